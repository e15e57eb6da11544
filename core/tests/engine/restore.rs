//! Restore requests, and rollbacks that find their backup gone or its sidecar damaged.

use std::fs;

use switchyard::{
    ApplyMode, Decision, ErrorId, LinkRequest, MemorySink, Plan, Reason, Request, RestoreRequest,
    RollbackOptions, Stage,
};

use crate::support::{Sandbox, commit, permissive, set_immutable, without_sidecars};

fn linked(name: &str) -> (Sandbox, Plan) {
    let sb = Sandbox::new(name);
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    commit(&permissive(), &plan);
    (sb, plan)
}

/// Proves: REQ-E10
#[test]
fn a_restore_that_a_later_failure_undoes_gets_its_link_back() {
    let (sb, _) = linked("restore-undone");
    sb.file("usr/bin/zz", "GNU zz\n", 0o755)
        .file("opt/uutils/zz", "uutils zz\n", 0o755);
    set_immutable(&sb.path("usr/bin/zz"), true);
    let linked_tree = sb.snapshot();
    // Restore ls, and link zz, which cannot be swapped: the whole apply is undone.
    let plan = Plan::new([
        Request::Restore(RestoreRequest {
            target: sb.safe("usr/bin/ls"),
        }),
        Request::Link(LinkRequest {
            source: sb.safe("opt/uutils/zz"),
            target: sb.safe("usr/bin/zz"),
        }),
    ])
    .unwrap();
    let mut facts = MemorySink::default();
    let err = permissive()
        .apply(&plan, ApplyMode::Commit, &mut facts)
        .unwrap_err();
    set_immutable(&sb.path("usr/bin/zz"), false);
    assert_eq!(err.id(), ErrorId::AtomicSwap, "{err}");
    // The link is made anew (a symlink is its destination; its inode number is not kept).
    let links_by_destination = |snap| {
        let mut snap = without_sidecars(snap);
        for entry in snap.values_mut().filter(|e| e.kind == "symlink") {
            entry.ino = 0;
        }
        snap
    };
    assert_eq!(
        links_by_destination(sb.snapshot()),
        links_by_destination(linked_tree)
    );
    let undone = facts
        .facts
        .iter()
        .find(|f| f.stage == Stage::Rollback)
        .unwrap();
    assert_eq!(undone.target.as_deref(), Some("usr/bin/ls"));
    assert_eq!(undone.reason, Some(Reason::AutoRollback));
    assert_eq!(undone.decision, Decision::Success);
}

/// Proves: REQ-E10
#[test]
fn rolling_back_a_restore_plan_says_restores_are_final() {
    let (sb, _) = linked("restore-final");
    let plan = Plan::new([Request::Restore(RestoreRequest {
        target: sb.safe("usr/bin/ls"),
    })])
    .unwrap();
    commit(&permissive(), &plan);
    assert_eq!(fs::read(sb.path("usr/bin/ls")).unwrap(), b"GNU ls\n");
    let mut facts = MemorySink::default();
    let report = permissive()
        .rollback(&plan, RollbackOptions::default(), &mut facts)
        .unwrap();
    assert_eq!((report.restored, report.unchanged), (0, 1));
    let fact = facts
        .facts
        .iter()
        .find(|f| f.stage == Stage::Rollback)
        .unwrap();
    assert_eq!(
        (fact.decision, fact.reason),
        (Decision::Warn, Some(Reason::RestoreIsFinal))
    );
    assert_eq!(fs::read(sb.path("usr/bin/ls")).unwrap(), b"GNU ls\n");
}

/// Proves: REQ-E10
#[test]
fn a_restore_with_no_backup_is_refused_with_e_backup_missing() {
    let sb = Sandbox::new("restore-nothing");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755);
    let before = sb.snapshot();
    let plan = Plan::new([Request::Restore(RestoreRequest {
        target: sb.safe("usr/bin/ls"),
    })])
    .unwrap();
    let err = permissive()
        .apply(&plan, ApplyMode::Commit, &mut MemorySink::default())
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::BackupMissing, "{err}");
    assert_eq!(sb.snapshot(), before);
}

/// Rollback of `plan` fails with `E_BACKUP_MISSING`, names `file`, and changes nothing.
fn assert_rollback_refused(sb: &Sandbox, plan: &Plan, file: &str) {
    let before = sb.snapshot();
    let err = permissive()
        .rollback(plan, RollbackOptions::default(), &mut MemorySink::default())
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::BackupMissing, "{err}");
    assert!(err.to_string().contains(file), "{err}");
    assert_eq!(sb.snapshot(), before, "a failed rollback changed the tree");
}

/// Proves: REQ-E11
#[test]
fn a_deleted_backup_makes_rollback_fail_and_leaves_the_link() {
    let (sb, plan) = linked("backup-deleted");
    fs::remove_file(sb.path("usr/bin/.ls.switchyard.1.bak")).unwrap();
    assert_rollback_refused(&sb, &plan, ".ls.switchyard.1.bak");
}

/// Proves: REQ-E11
#[test]
fn a_damaged_sidecar_makes_rollback_fail_and_names_it() {
    let (sb, plan) = linked("sidecar-damaged");
    fs::write(sb.path("usr/bin/.ls.switchyard.1.json"), "{ not json").unwrap();
    assert_rollback_refused(&sb, &plan, ".ls.switchyard.1.json");
}
