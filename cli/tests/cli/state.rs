//! The root's state directory (`var/lib/switchyard`: the lock and the plan records): made
//! inside the root, and its failures reported with their own ids.

use std::fs;
use std::os::unix::fs::symlink;

use crate::support::Tree;

/// `var/lib` is an absolute symlink out of the tree: followed through the host, the lock would
/// be made outside the root.
#[test]
fn the_state_directory_is_never_made_outside_the_root() {
    let tree = Tree::new("state-in-root");
    let outside = tree.dir.join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::create_dir_all(tree.path("var")).unwrap();
    symlink(&outside, tree.path("var/lib")).unwrap();
    let before = tree.snapshot();
    let run = tree
        .run(&["apply", "--commit", "--link", "opt/new/ls=usr/bin/ls"])
        .expect(30);
    assert!(run.stderr().contains("lock"), "{}", run.stderr());
    assert_eq!(
        fs::read_dir(&outside).unwrap().count(),
        0,
        "something was made outside the root"
    );
    assert_eq!(tree.snapshot(), before);
}

#[test]
fn a_plan_record_that_cannot_be_written_is_e_audit_and_the_commit_does_not_stand() {
    let tree = Tree::new("state-record-unwritable");
    tree.file("var/lib/switchyard/plans", "not a directory\n");
    let before = tree.snapshot();
    let run = tree
        .run(&["apply", "--commit", "--link", "opt/new/ls=usr/bin/ls"])
        .expect(130);
    assert!(run.stderr().contains("plan"), "{}", run.stderr());
    assert!(!tree.is_link("usr/bin/ls"));
    assert_eq!(tree.snapshot(), before);
}

/// The root's lock, held by this test (as another switchyard would) while `hold` runs.
fn holding_the_lock<T>(tree: &Tree, hold: impl FnOnce() -> T) -> T {
    let path = tree.path("var/lib/switchyard/lock");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap();
    file.try_lock().unwrap();
    let result = hold();
    file.unlock().unwrap();
    result
}

fn plan_ids(tree: &Tree) -> Vec<String> {
    let plans = tree.run(&["--json", "plans"]).expect(0).json();
    plans["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["plan_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The audit's reproduction: a commit that fails without changing anything (the lock is
/// held; no rescue toolset) must not make an older plan look newest, or `rollback --all`
/// undoes the plans in the wrong order and meets its own drift refusal.
#[test]
fn a_failed_commit_leaves_the_order_of_recorded_plans_alone() {
    let tree = Tree::new("state-order");
    let before = tree.snapshot();
    let commit = |links: &[&str]| -> String {
        let mut args = vec!["--json", "apply", "--commit"];
        for link in links {
            args.extend(["--link", link]);
        }
        let run = tree.run(&args).expect(0);
        run.json()["plan_id"].as_str().unwrap().to_owned()
    };
    let a = commit(&["opt/new/ls=usr/bin/ls"]);
    let b = commit(&["opt/new/cat=usr/bin/ls", "opt/new/true=usr/bin/true"]);
    assert_eq!(plan_ids(&tree), [a.clone(), b.clone()]);

    let again = ["apply", "--commit", "--link", "opt/new/ls=usr/bin/ls"];
    holding_the_lock(&tree, || {
        let mut args = vec!["--lock-wait", "0"];
        args.extend(again);
        tree.run(&args).expect(30);
    });
    assert_eq!(plan_ids(&tree), [a.clone(), b.clone()], "after E_LOCKING");

    let aside = tree.dir.join("busybox");
    fs::rename(tree.path("usr/bin/busybox"), &aside).unwrap();
    tree.run(&["apply", "--commit", "--from", "opt/new"])
        .expect(100);
    tree.run(&again).expect(100);
    assert_eq!(plan_ids(&tree), [a.clone(), b.clone()], "after E_RESCUE");
    fs::rename(&aside, tree.path("usr/bin/busybox")).unwrap();

    tree.run(&["rollback", "--all"]).expect(0);
    assert!(
        tree.snapshot() == before,
        "rollback --all left the tree changed"
    );
}

/// A commit that fails after its swaps is undone: it changed nothing in the end, so an
/// existing record keeps its place.
#[test]
fn a_commit_undone_by_its_health_check_leaves_the_order_of_recorded_plans_alone() {
    let tree = Tree::new("state-order-smoke");
    let a = tree
        .run(&[
            "--json",
            "apply",
            "--commit",
            "--link",
            "opt/new/ls=usr/bin/ls",
        ])
        .expect(0)
        .json()["plan_id"]
        .as_str()
        .unwrap()
        .to_owned();
    tree.run(&["rollback", &a]).expect(0);
    let b = tree
        .run(&[
            "--json",
            "apply",
            "--commit",
            "--link",
            "opt/new/cat=usr/bin/cat",
        ])
        .expect(0)
        .json()["plan_id"]
        .as_str()
        .unwrap()
        .to_owned();
    fs::remove_file(tree.path("opt/new/ls")).unwrap();
    tree.file("opt/new/ls", "#!/bin/sh\nkill -SEGV $$\n");
    tree.run(&["apply", "--commit", "--link", "opt/new/ls=usr/bin/ls"])
        .expect(80);
    assert!(!tree.is_link("usr/bin/ls"));
    assert_eq!(plan_ids(&tree), [a, b]);
}

/// Failed commits that never got to change anything are not recorded.
#[test]
fn a_commit_that_fails_before_changing_anything_leaves_no_record() {
    let tree = Tree::new("state-no-record");
    holding_the_lock(&tree, || {
        tree.run(&["--lock-wait", "0", "apply", "--commit", "--from", "opt/new"])
            .expect(30);
    });
    fs::remove_file(tree.path("usr/bin/busybox")).unwrap();
    tree.run(&["apply", "--commit", "--from", "opt/new"])
        .expect(100);
    assert_eq!(plan_ids(&tree), Vec::<String>::new());
    let status = tree.run(&["status"]).expect(0).stdout();
    assert!(status.contains("no recorded plans"), "{status}");
}

/// A damaged record (cut short by a full disk, edited by hand) blocks only what needs it.
#[test]
fn an_unreadable_plan_record_blocks_only_what_needs_it() {
    let tree = Tree::new("state-bad-record");
    let commit = |link: &str| -> String {
        let run = tree
            .run(&["--json", "apply", "--commit", "--link", link])
            .expect(0);
        run.json()["plan_id"].as_str().unwrap().to_owned()
    };
    let bad = commit("opt/new/ls=usr/bin/ls");
    let good = commit("opt/new/cat=usr/bin/cat");
    let record = format!("var/lib/switchyard/plans/{bad}.json");
    fs::write(tree.path(&record), "{\"trunc").unwrap();

    let run = tree.run(&["status"]).expect(0);
    assert!(run.stdout().contains("usr/bin/cat"), "{}", run.stdout());
    assert!(run.stderr().contains(&record), "{}", run.stderr());
    let status = tree.run(&["--json", "status"]).expect(0).json();
    assert_eq!(status["targets"][0]["plan_id"], good.as_str(), "{status}");
    assert_eq!(status["warnings"][0]["id"], "E_AUDIT", "{status}");
    assert!(
        status["warnings"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&record),
        "{status}"
    );

    let run = tree.run(&["plans"]).expect(0);
    assert!(
        run.stdout()
            .lines()
            .any(|l| l.starts_with(&bad) && l.contains("unreadable")),
        "{}",
        run.stdout()
    );
    let plans = tree.run(&["--json", "plans"]).expect(0).json();
    let rows = plans["plans"].as_array().unwrap();
    let bad_row = rows.iter().find(|p| p["plan_id"] == bad.as_str()).unwrap();
    assert_eq!(bad_row["error"]["id"], "E_AUDIT", "{plans}");

    // --all needs every record; the damaged one is named.
    let run = tree.run(&["rollback", "--all"]).expect(130);
    assert!(run.stderr().contains(&record), "{}", run.stderr());
    assert!(tree.is_link("usr/bin/ls") && tree.is_link("usr/bin/cat"));
    tree.run(&["rollback", &bad[..8]]).expect(130);
    // The other plan is found by its own record alone.
    tree.run(&["rollback", &good[..8]]).expect(0);
    assert!(!tree.is_link("usr/bin/cat"));
}
