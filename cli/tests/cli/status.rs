//! `status` and `plans`: what recorded plans did, read-only.

use crate::support::Tree;

/// Proves: REQ-CLI1
#[test]
fn status_and_plans_follow_a_commit_and_its_rollback() {
    let tree = Tree::new("status");
    let run = tree.run(&["status"]).expect(0);
    assert!(
        run.stdout().contains("no recorded plans"),
        "{}",
        run.stdout()
    );

    let run = tree
        .run(&[
            "--json",
            "apply",
            "--commit",
            "--link",
            "opt/new/ls=usr/bin/ls",
        ])
        .expect(0);
    let id = run.json()["plan_id"].clone();
    let before = tree.snapshot();
    let status = tree.run(&["--json", "status"]).expect(0).json();
    assert_eq!(tree.snapshot(), before, "status changed the tree");
    let target = &status["targets"][0];
    assert_eq!(target["target"], "usr/bin/ls");
    assert_eq!(target["state"], "switched");
    assert_eq!(target["plan_id"], id);
    assert_eq!(target["generation"], 1);
    let plans = tree.run(&["--json", "plans"]).expect(0).json();
    assert_eq!(plans["plans"][0]["switched"], 1);

    tree.run(&["rollback", "--all"]).expect(0);
    let status = tree.run(&["--json", "status"]).expect(0).json();
    assert_eq!(status["targets"][0]["state"], "rolled_back");
    let text = tree.run(&["status"]).expect(0).stdout();
    assert!(text.contains("rolled-back"), "{text}");
}
