//! Bad input: unknown targets, malformed plan files (at their line and column), wrong links,
//! and the exit codes of each.

use std::fs;

use crate::support::Tree;

#[test]
fn an_unknown_target_directory_is_e_policy_and_changes_nothing() {
    let tree = Tree::new("input-unknown-target");
    let before = tree.snapshot();
    let run = tree
        .run(&["apply", "--commit", "--link", "opt/new/ls=usr/nowhere/ls"])
        .expect(10);
    assert!(run.stderr().contains("usr/nowhere/ls"), "{}", run.stderr());
    assert_eq!(tree.snapshot(), before);
}

#[test]
fn a_missing_source_and_an_escaping_path_are_e_policy() {
    let tree = Tree::new("input-bad-source");
    tree.run(&["apply", "--link", "opt/new/nothing=usr/bin/ls"])
        .expect(10);
    tree.run(&["apply", "--link", "../etc/passwd=usr/bin/ls"])
        .expect(10);
}

/// Proves: REQ-CLI1
#[test]
fn a_malformed_yaml_plan_file_is_reported_at_its_line_and_column() {
    let tree = Tree::new("input-yaml");
    let plan = tree.dir.join("plan.yaml");
    fs::write(
        &plan,
        "links:\n  - source: opt/new/ls\n    target: usr/bin/ls\n    color: blue\n",
    )
    .unwrap();
    let run = tree
        .run(&["apply", "--plan", plan.to_str().unwrap()])
        .expect(2);
    let want = format!("{}:4:5: ", plan.display());
    assert!(
        run.stderr().contains(&want),
        "want {want} in {}",
        run.stderr()
    );
    assert!(run.stderr().contains("color"), "{}", run.stderr());
}

#[test]
fn a_malformed_json_plan_file_is_reported_at_its_line_and_column() {
    let tree = Tree::new("input-json");
    let plan = tree.dir.join("plan.json");
    fs::write(
        &plan,
        "{\"links\": [\n  {\"source\": \"a\" \"target\": \"b\"}\n]}\n",
    )
    .unwrap();
    let run = tree
        .run(&["apply", "--plan", plan.to_str().unwrap()])
        .expect(2);
    let want = format!("{}:2:18: ", plan.display());
    assert!(
        run.stderr().contains(&want),
        "want {want} in {}",
        run.stderr()
    );
}

#[test]
fn a_link_without_an_equals_sign_and_an_empty_apply_are_usage_errors() {
    let tree = Tree::new("input-usage");
    let run = tree.run(&["apply", "--link", "opt/new/ls"]).expect(2);
    assert!(run.stderr().contains("SOURCE=TARGET"), "{}", run.stderr());
    tree.run(&["apply"]).expect(2);
    tree.run(&["rollback"]).expect(2);
    tree.run(&["apply", "--from", "opt/none"]).expect(2);
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let tree = Tree::new("input-help");
    let run = tree.run(&["--help"]).expect(0);
    assert!(run.stdout().contains("Examples:"), "{}", run.stdout());
    assert!(run.stdout().contains("E_DRIFT 90"), "{}", run.stdout());
}

#[test]
fn prune_refuses_to_keep_no_generation() {
    let tree = Tree::new("input-prune-keep-0");
    let run = tree.run(&["prune", "--all", "--keep", "0"]).expect(2);
    assert!(run.stderr().contains("--keep"), "{}", run.stderr());
}

#[test]
fn every_subcommand_help_has_an_example_and_speaks_of_its_own_command() {
    let tree = Tree::new("input-subcommand-help");
    for command in ["apply", "rollback", "status", "prune", "plans"] {
        let help = tree.run(&[command, "--help"]).expect(0).stdout();
        let example = help
            .split_once("Example:\n")
            .and_then(|(_, rest)| rest.lines().next())
            .unwrap_or_default();
        assert!(
            example.starts_with("  switchyard ") && example.contains(&format!(" {command}")),
            "{command} --help has no example of itself:\n{help}"
        );
    }
    let prune = tree.run(&["prune", "--help"]).expect(0).stdout();
    assert!(!prune.contains("rollback"), "{prune}");
}

/// As with `dpkg --root`, an absolute path names the file inside the root.
#[test]
fn a_leading_slash_in_links_and_from_is_read_inside_the_root() {
    let tree = Tree::new("input-leading-slash");
    tree.run(&["apply", "--commit", "--link", "/opt/new/ls=/usr/bin/ls"])
        .expect(0);
    assert_eq!(
        fs::read_link(tree.path("usr/bin/ls")).unwrap(),
        std::path::Path::new("../../opt/new/ls")
    );
    let run = tree
        .run(&["--json", "apply", "--from", "/opt/new"])
        .expect(0);
    assert_eq!(run.json()["actions"].as_array().unwrap().len(), 5);
}

#[test]
fn a_root_that_does_not_exist_is_a_usage_error() {
    let tree = Tree::new("input-no-root");
    let missing = tree.dir.join("nowhere");
    let run = crate::support::Run(
        std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg("--root")
            .arg(&missing)
            .arg("status")
            .output()
            .unwrap(),
    )
    .expect(2);
    assert!(
        run.stderr().contains(missing.to_str().unwrap()),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_bad_path_in_a_plan_file_is_reported_at_its_line_and_column() {
    let tree = Tree::new("input-plan-path");
    let plan = tree.dir.join("plan.yaml");
    fs::write(
        &plan,
        "links:\n  - source: opt/new/ls\n    target: ../etc/passwd\n",
    )
    .unwrap();
    let before = tree.snapshot();
    let run = tree
        .run(&["apply", "--commit", "--plan", plan.to_str().unwrap()])
        .expect(10);
    let want = format!("{}:3:13: ", plan.display());
    assert!(
        run.stderr().contains(&want) && run.stderr().contains("../etc/passwd"),
        "want {want} in {}",
        run.stderr()
    );
    assert_eq!(tree.snapshot(), before);
}

/// A health check for a target the plan does not link (a typo) would never run: refused.
#[test]
fn a_health_check_for_a_target_not_in_the_plan_is_a_usage_error_at_its_place() {
    let tree = Tree::new("input-health-typo");
    let plan = tree.dir.join("plan.yaml");
    fs::write(
        &plan,
        "health:\n  usr/bin/lss: {expect: exits}\n\
         links:\n  - {source: opt/new/ls, target: usr/bin/ls}\n",
    )
    .unwrap();
    let run = tree
        .run(&["apply", "--plan", plan.to_str().unwrap()])
        .expect(2);
    let want = format!("{}:2:3: ", plan.display());
    assert!(
        run.stderr().contains(&want) && run.stderr().contains("usr/bin/lss"),
        "want {want} in {}",
        run.stderr()
    );
    // The same in JSON, which gives no places: the file and the target.
    let json = tree.dir.join("plan.json");
    fs::write(
        &json,
        r#"{"links": [{"source": "opt/new/ls", "target": "usr/bin/ls"}],
            "health": {"usr/bin/lss": {"expect": "exits"}}}"#,
    )
    .unwrap();
    let run = tree
        .run(&["apply", "--plan", json.to_str().unwrap()])
        .expect(2);
    let want = format!("{}: ", json.display());
    assert!(
        run.stderr().contains(&want) && run.stderr().contains("usr/bin/lss"),
        "want {want} in {}",
        run.stderr()
    );
    // A check for a target the plan links, given with a leading slash, is fine.
    fs::write(
        &plan,
        "health:\n  /usr/bin/ls: {expect: exits}\n\
         links:\n  - {source: opt/new/ls, target: usr/bin/ls}\n",
    )
    .unwrap();
    tree.run(&["apply", "--plan", plan.to_str().unwrap()])
        .expect(0);
}

/// Runs `switchyard --root ROOT ARGS...` as the unprivileged user `nobody`.
fn run_as_nobody(tree: &Tree, args: &[&str]) -> crate::support::Run {
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--root")
        .arg(&tree.root)
        .args(args)
        .output()
        .expect("setpriv (util-linux) runs");
    crate::support::Run(output)
}

#[test]
fn changing_the_tree_as_an_unprivileged_user_says_it_must_be_run_as_root() {
    let tree = Tree::new("input-not-root");
    let before = tree.snapshot();
    for args in [
        &["apply", "--commit", "--link", "opt/new/ls=usr/bin/ls"][..],
        &["rollback", "--all"],
        &["prune", "--all"],
    ] {
        let run = run_as_nobody(&tree, args).expect(2);
        assert!(
            run.stderr().contains("must be run as root"),
            "{args:?}: {}",
            run.stderr()
        );
    }
    // A dry run says what the commit would say, and ends as it would.
    let run = run_as_nobody(&tree, &["apply", "--link", "opt/new/ls=usr/bin/ls"]).expect(2);
    assert!(
        run.stderr().contains("warning") && run.stderr().contains("must be run as root"),
        "{}",
        run.stderr()
    );
    assert_eq!(tree.snapshot(), before);
    assert!(!tree.path("var").exists(), "the state directory was made");
    // Looking changes nothing: no privilege needed.
    run_as_nobody(&tree, &["status"]).expect(0);
    run_as_nobody(&tree, &["plans"]).expect(0);
}
