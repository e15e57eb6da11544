//! `rollback` and `prune` of recorded plans: by id, by prefix, all; nothing matched is an error.

use crate::support::Tree;

/// Proves: REQ-CLI1
#[test]
fn rollback_by_id_prefix_restores_the_tree_and_a_second_one_is_a_no_op() {
    let tree = Tree::new("rollback-by-id");
    let before = tree.snapshot();
    let run = tree
        .run(&["--json", "apply", "--commit", "--from", "opt/new"])
        .expect(0);
    let id = run.json()["plan_id"].as_str().unwrap().to_owned();
    assert_ne!(tree.snapshot(), before);

    let run = tree.run(&["--json", "rollback", &id[..8]]).expect(0);
    assert_eq!(run.json()["rolled_back"][0]["restored"], 5);
    assert_eq!(tree.snapshot(), before);

    let run = tree.run(&["--json", "rollback", &id]).expect(0);
    assert_eq!(run.json()["rolled_back"][0]["restored"], 0);
    assert_eq!(tree.snapshot(), before);
}

#[test]
fn rollback_all_undoes_every_plan_newest_first() {
    let tree = Tree::new("rollback-all");
    let before = tree.snapshot();
    tree.run(&["apply", "--commit", "--link", "opt/new/ls=usr/bin/ls"])
        .expect(0);
    // The second plan re-links ls elsewhere: only newest-first order gets the original back.
    tree.run(&[
        "apply",
        "--commit",
        "--link",
        "opt/new/cat=usr/bin/ls",
        "--link",
        "opt/new/true=usr/bin/true",
    ])
    .expect(0);
    tree.run(&["rollback", "--all"]).expect(0);
    assert_eq!(tree.snapshot(), before);
}

/// Proves: REQ-CLI1
#[test]
fn a_rollback_that_matches_no_plan_is_an_error() {
    let tree = Tree::new("rollback-nothing");
    let run = tree.run(&["rollback", "--all"]).expect(10);
    assert!(
        run.stderr().contains("no recorded plan"),
        "{}",
        run.stderr()
    );
    tree.run(&["apply", "--commit", "--link", "opt/new/ls=usr/bin/ls"])
        .expect(0);
    let run = tree.run(&["rollback", "ffffffff"]).expect(10);
    assert!(run.stderr().contains("ffffffff"), "{}", run.stderr());
    assert!(
        tree.is_link("usr/bin/ls"),
        "a failed request changed the tree"
    );
}

#[test]
fn rollback_of_a_drifted_target_is_refused_with_e_drift() {
    let tree = Tree::new("rollback-drift");
    tree.run(&["apply", "--commit", "--link", "opt/new/ls=usr/bin/ls"])
        .expect(0);
    std::fs::remove_file(tree.path("usr/bin/ls")).unwrap();
    tree.file("usr/bin/ls", "reinstalled\n");
    tree.run(&["rollback", "--all"]).expect(90);
    assert_eq!(
        std::fs::read(tree.path("usr/bin/ls")).unwrap(),
        b"reinstalled\n"
    );
    tree.run(&["rollback", "--all", "--force"]).expect(0);
}

#[test]
fn prune_keeps_the_newest_generation_of_each_target() {
    let tree = Tree::new("prune");
    for _ in 0..2 {
        tree.run(&["apply", "--commit", "--link", "opt/new/ls=usr/bin/ls"])
            .expect(0);
        tree.run(&["rollback", "--all"]).expect(0);
    }
    let run = tree.run(&["--json", "prune", "--all"]).expect(0);
    assert_eq!(run.json()["pruned"][0]["removed"], 1);
    assert!(tree.path("usr/bin/.ls.switchyard.2.json").exists());
    assert!(!tree.path("usr/bin/.ls.switchyard.1.json").exists());
    tree.run(&["prune", "0123"]).expect(10);
}

#[test]
fn rollback_with_tidy_leaves_no_sidecar_behind() {
    let tree = Tree::new("rollback-tidy");
    let listing = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(tree.path("usr/bin"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = (listing(), tree.snapshot());
    tree.run(&["apply", "--commit", "--from", "opt/new"])
        .expect(0);
    tree.run(&["rollback", "--all"]).expect(0);
    assert_ne!(listing(), before.0, "the sidecars should still be there");
    let run = tree
        .run(&["--json", "rollback", "--all", "--tidy"])
        .expect(0);
    assert_eq!(run.json()["tidied"], 5);
    assert_eq!((listing(), tree.snapshot()), before);
}

/// Once tidy removed every sidecar of a plan, nothing of it is left to roll back or show: its
/// record goes too. A plan still switched, or with a sidecar tidy kept, keeps its record.
#[test]
fn rollback_with_tidy_forgets_the_plans_nothing_is_left_of() {
    let tree = Tree::new("rollback-tidy-forgets");
    let commit = |links: &[&str]| -> String {
        let mut args = vec!["--json", "apply", "--commit"];
        for link in links {
            args.extend(["--link", link]);
        }
        let run = tree.run(&args).expect(0);
        run.json()["plan_id"].as_str().unwrap().to_owned()
    };
    let ids = || -> Vec<String> {
        let plans = tree.run(&["--json", "plans"]).expect(0).json();
        plans["plans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["plan_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let ls = commit(&["opt/new/ls=usr/bin/ls"]);
    let cat = commit(&["opt/new/cat=usr/bin/cat"]);
    let run = tree.run(&["--json", "rollback", "--tidy", &cat]).expect(0);
    assert_eq!(ids(), std::slice::from_ref(&ls));
    assert_eq!(run.json()["forgotten"], serde_json::json!([cat]));
    assert!(tree.is_link("usr/bin/ls"), "the other plan's link is gone");

    tree.run(&["rollback", "--all", "--tidy"]).expect(0);
    assert_eq!(ids(), Vec::<String>::new());
    let status = tree.run(&["status"]).expect(0).stdout();
    assert!(status.contains("no recorded plans"), "{status}");

    // A later plan over ls, rolled back: its sidecar stays beside the backup of the original
    // (tidy keeps a target with a backup whole), and so does its record, which finds it.
    let ls = commit(&["opt/new/ls=usr/bin/ls"]);
    let over = commit(&["opt/new/true=usr/bin/ls"]);
    tree.run(&["rollback", "--tidy", &over]).expect(0);
    assert_eq!(ids(), [ls, over]);
}
