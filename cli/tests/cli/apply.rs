//! `apply`: dry run by default, commit with --commit, from links, a package directory or a plan
//! file; the safeguards of the production policy.

use std::fs;

use crate::support::{TOOLS, Tree};

/// Proves: REQ-CLI1
#[test]
fn a_dry_run_changes_nothing_and_says_what_a_commit_would_do() {
    let tree = Tree::new("apply-dry-run");
    let before = tree.snapshot();
    let run = tree
        .run(&["--json", "apply", "--from", "opt/new"])
        .expect(0);
    let report = run.json();
    assert_eq!(report["committed"], false);
    assert_eq!(report["changed"], TOOLS.len());
    assert_eq!(tree.snapshot(), before);
    assert!(
        !tree.path("var").exists(),
        "a dry run created the state directory"
    );
}

#[test]
fn commit_from_a_package_directory_links_every_name_found_in_usr_bin_or_usr_sbin() {
    let tree = Tree::new("apply-from");
    tree.file("opt/new/only-new", "#!/bin/sh\n")
        .file("usr/sbin/sbin-tool", "#!/bin/sh\necho old\n")
        .file("opt/new/sbin-tool", "#!/bin/sh\necho new\n");
    let run = tree
        .run(&["--json", "apply", "--commit", "--from", "opt/new"])
        .expect(0);
    let report = run.json();
    assert_eq!(report["committed"], true);
    assert_eq!(report["left_out"], serde_json::json!(["only-new"]));
    for tool in TOOLS {
        assert!(tree.is_link(&format!("usr/bin/{tool}")), "{tool}");
    }
    assert_eq!(
        fs::read_link(tree.path("usr/sbin/sbin-tool")).unwrap(),
        std::path::Path::new("../../opt/new/sbin-tool")
    );
    assert!(!tree.path("usr/bin/only-new").exists());
    let id = report["plan_id"].as_str().unwrap();
    assert!(
        tree.path(&format!("var/lib/switchyard/plans/{id}.json"))
            .is_file(),
        "the committed plan was not recorded"
    );
}

#[test]
fn commit_of_links_given_on_the_command_line() {
    let tree = Tree::new("apply-links");
    tree.run(&[
        "apply",
        "--commit",
        "--link",
        "opt/new/ls=usr/bin/ls",
        "--link",
        "opt/new/true=usr/bin/true",
    ])
    .expect(0);
    assert!(tree.is_link("usr/bin/ls") && tree.is_link("usr/bin/true"));
    assert!(!tree.is_link("usr/bin/cat"));
}

#[test]
fn production_refuses_a_plan_that_swaps_away_every_rescue_tool() {
    let tree = Tree::new("apply-no-rescue");
    fs::remove_file(tree.path("usr/bin/busybox")).unwrap();
    let before = tree.snapshot();
    let run = tree
        .run(&["apply", "--commit", "--from", "opt/new"])
        .expect(100);
    assert!(run.stderr().contains("rescue"), "{}", run.stderr());
    assert_eq!(tree.snapshot(), before);
    // The permissive policy does not need one.
    tree.run(&[
        "--policy",
        "permissive",
        "apply",
        "--commit",
        "--from",
        "opt/new",
    ])
    .expect(0);
}

#[test]
fn a_target_that_fails_its_health_check_is_rolled_back_with_e_smoke() {
    let tree = Tree::new("apply-smoke");
    tree.file("opt/new/ls", "#!/bin/sh\nkill -SEGV $$\n");
    let before = tree.snapshot();
    let run = tree
        .run(&["apply", "--commit", "--from", "opt/new"])
        .expect(80);
    assert!(run.stderr().contains("usr/bin/ls"), "{}", run.stderr());
    assert_eq!(tree.snapshot(), before);
    assert_eq!(
        tree.engine_files(),
        Vec::<String>::new(),
        "a failed commit left its sidecars or its plan record"
    );
}

#[test]
fn a_plan_file_gives_links_policy_and_health_overrides() {
    let tree = Tree::new("apply-plan-file");
    tree.file(
        "opt/new/tool",
        "#!/bin/sh\n[ \"$1\" = ping ] && exit 7\nkill -SEGV $$\n",
    )
    .file("usr/bin/tool", "#!/bin/sh\n");
    let plan = tree.dir.join("plan.yaml");
    fs::write(
        &plan,
        "policy: permissive\n\
         links:\n  - source: opt/new/tool\n    target: usr/bin/tool\n\
         health:\n  usr/bin/tool: { args: [ping], expect: { exit: [7] } }\n",
    )
    .unwrap();
    tree.run(&["apply", "--commit", "--plan", plan.to_str().unwrap()])
        .expect(0);
    assert!(tree.is_link("usr/bin/tool"));

    let json = tree.dir.join("plan.json");
    fs::write(
        &json,
        r#"{"links": [{"source": "opt/new/cat", "target": "usr/bin/cat"}]}"#,
    )
    .unwrap();
    tree.run(&["apply", "--commit", "--plan", json.to_str().unwrap()])
        .expect(0);
    assert!(tree.is_link("usr/bin/cat"));
}

#[test]
fn facts_go_to_the_audit_trail_file() {
    let tree = Tree::new("apply-facts");
    let facts = tree.dir.join("facts.jsonl");
    tree.run(&[
        "--facts",
        facts.to_str().unwrap(),
        "apply",
        "--commit",
        "--link",
        "opt/new/ls=usr/bin/ls",
    ])
    .expect(0);
    let text = fs::read_to_string(&facts).unwrap();
    let stages: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["stage"].to_string())
        .collect();
    assert!(stages.contains(&"\"apply.result\"".to_owned()), "{text}");
}

/// A dry run goes through the commit's gates: one the commit would fail is a warning, and the
/// dry run exits with the commit's code. The lock, which a dry run never takes, is no warning.
#[test]
fn a_dry_run_warns_of_what_the_commit_would_fail_and_exits_with_its_code() {
    let tree = Tree::new("apply-dry-run-warnings");
    let aside = tree.dir.join("busybox");
    fs::rename(tree.path("usr/bin/busybox"), &aside).unwrap();
    let run = tree.run(&["apply", "--from", "opt/new"]).expect(100);
    assert!(
        run.stderr().contains("warning") && run.stderr().contains("E_RESCUE"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("BusyBox"), "{}", run.stderr());
    assert!(!run.stderr().contains("lock"), "{}", run.stderr());
    assert!(
        run.stdout().contains("would be switched"),
        "{}",
        run.stdout()
    );
    let report = tree
        .run(&["--json", "apply", "--from", "opt/new"])
        .expect(100)
        .json();
    assert_eq!(report["committed"], false);
    let warnings = report["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{report}");
    assert_eq!(warnings[0]["id"], "E_RESCUE");
    assert_eq!(warnings[0]["exit_code"], 100);
    tree.run(&["apply", "--commit", "--from", "opt/new"])
        .expect(100);

    fs::rename(&aside, tree.path("usr/bin/busybox")).unwrap();
    let report = tree
        .run(&["--json", "apply", "--from", "opt/new"])
        .expect(0)
        .json();
    assert_eq!(report["warnings"], serde_json::json!([]));
}
