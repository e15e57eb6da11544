//! A target changed by someone else since the swap is not clobbered by rollback.

use std::fs;

use switchyard::{ErrorId, MemorySink, Reason, RollbackOptions, Stage};

use crate::support::{Sandbox, commit, permissive};

fn swapped(name: &str) -> (Sandbox, switchyard::Plan) {
    let sb = Sandbox::new(name);
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    commit(&permissive(), &plan);
    // A package manager installs its own ls over our link.
    let target = sb.path("usr/bin/ls");
    fs::remove_file(&target).unwrap();
    fs::write(&target, "package manager's ls\n").unwrap();
    (sb, plan)
}

/// Proves: REQ-E1
#[test]
fn rollback_refuses_and_leaves_the_new_file_untouched() {
    let (sb, plan) = swapped("drift-refused");
    let before = sb.snapshot();
    let mut facts = MemorySink::default();
    let err = permissive()
        .rollback(&plan, RollbackOptions::default(), &mut facts)
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Drift);
    assert_eq!(err.exit_code(), 90);
    assert!(err.to_string().contains("usr/bin/ls"), "{err}");
    assert_eq!(sb.snapshot(), before, "a refused rollback changed the tree");
    let failed = facts
        .facts
        .iter()
        .find(|f| f.stage == Stage::Rollback)
        .unwrap();
    assert_eq!(failed.error_id, Some(ErrorId::Drift));
    let summary = facts.facts.last().unwrap();
    assert_eq!(summary.stage, Stage::RollbackSummary);
    assert_eq!(summary.exit_code, Some(90));
}

/// Proves: REQ-E1
#[test]
fn forced_rollback_replaces_the_drifted_file() {
    let (sb, plan) = swapped("drift-forced");
    let mut facts = MemorySink::default();
    permissive()
        .rollback(&plan, RollbackOptions { force: true }, &mut facts)
        .unwrap();
    assert_eq!(fs::read(sb.path("usr/bin/ls")).unwrap(), b"GNU ls\n");
    let fact = facts
        .facts
        .iter()
        .find(|f| f.stage == Stage::Rollback)
        .unwrap();
    assert_eq!(fact.reason, Some(Reason::Forced));
}
