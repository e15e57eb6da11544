//! A target changed by someone else since the swap is not clobbered by rollback.

use std::fs;

use switchyard::{ErrorId, MemorySink, Reason, RollbackOptions, Stage};

use crate::support::{Sandbox, commit, permissive, roll_back, set_xattr};

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

/// `apt-get install --reinstall` while switched: the package manager puts a fresh file with the
/// original's exact bytes and mode where our link was. That is drift, not "already restored":
/// the original inode (with its xattrs) is still only in the backup.
#[test]
fn a_reinstalled_original_is_drift_and_every_backup_is_kept() {
    let sb = Sandbox::new("drift-reinstall");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    set_xattr(&sb.path("usr/bin/ls"), "user.origin", b"coreutils");
    let original = sb.snapshot()["usr/bin/ls"].clone();
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    commit(&permissive(), &plan);
    let target = sb.path("usr/bin/ls");
    fs::remove_file(&target).unwrap();
    sb.file("usr/bin/ls", "GNU ls\n", 0o755);
    let before = sb.snapshot();

    let err = permissive()
        .rollback(
            &plan,
            RollbackOptions::default(),
            &mut MemorySink::default(),
        )
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Drift, "{err}");
    assert_eq!(sb.snapshot(), before, "a refused rollback changed the tree");
    // Asking again changes nothing either.
    let again = permissive()
        .rollback(
            &plan,
            RollbackOptions::default(),
            &mut MemorySink::default(),
        )
        .unwrap_err();
    assert_eq!(again.id(), ErrorId::Drift, "{again}");
    assert_eq!(sb.snapshot(), before);

    // Forced, the original inode comes back.
    permissive()
        .rollback(
            &plan,
            RollbackOptions { force: true },
            &mut MemorySink::default(),
        )
        .unwrap();
    assert_eq!(sb.snapshot()["usr/bin/ls"], original);
    assert!(!sb.path("usr/bin/.ls.switchyard.1.bak").exists());
}

/// A forced rollback over a directory that took the target's place refuses without changing
/// anything, and once the directory is replaced by a file a forced rollback works again.
#[test]
fn a_forced_rollback_over_a_directory_leaves_later_rollbacks_working() {
    let sb = Sandbox::new("drift-forced-dir");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let original = sb.snapshot()["usr/bin/ls"].clone();
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    commit(&permissive(), &plan);
    fs::remove_file(sb.path("usr/bin/ls")).unwrap();
    sb.file("usr/bin/ls/admin-notes", "mine\n", 0o644);
    let before = sb.snapshot();

    let err = permissive()
        .rollback(
            &plan,
            RollbackOptions { force: true },
            &mut MemorySink::default(),
        )
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Drift, "{err}");
    assert!(err.to_string().contains("directory"), "{err}");
    assert_eq!(sb.snapshot(), before, "a refused rollback changed the tree");

    fs::remove_dir_all(sb.path("usr/bin/ls")).unwrap();
    sb.file("usr/bin/ls", "admin's ls\n", 0o755);
    let report = permissive()
        .rollback(
            &plan,
            RollbackOptions { force: true },
            &mut MemorySink::default(),
        )
        .unwrap();
    assert_eq!(report.restored, 1);
    assert_eq!(sb.snapshot()["usr/bin/ls"], original);
    roll_back(&permissive(), &plan);
    assert_eq!(sb.snapshot()["usr/bin/ls"], original);
}
