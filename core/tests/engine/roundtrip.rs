//! Swap then rollback restores the exact prior object, for each prior kind; rollback is
//! idempotent.

use std::fs;
use std::os::unix::fs::{MetadataExt, chown};

use switchyard::{ApplyMode, Decision, Kind, MemorySink, Reason, RollbackOptions, Stage};

use crate::support::{
    Sandbox, commit, permissive, roll_back, set_xattr, user_xattrs, without_sidecars,
};

/// Proves: REQ-R2
#[test]
fn file_comes_back_as_the_same_inode_with_mode_owner_and_xattrs() {
    let sb = Sandbox::new("roundtrip-file");
    sb.file("usr/bin/ls", "GNU ls\n", 0o4755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let target = sb.path("usr/bin/ls");
    chown(&target, Some(1000), Some(1001)).unwrap();
    // chown clears setuid; set the mode again so the prior object really is setuid.
    fs::set_permissions(
        &target,
        std::os::unix::fs::PermissionsExt::from_mode(0o4755),
    )
    .unwrap();
    set_xattr(&target, "user.origin", b"gnu");
    let before = sb.snapshot();
    let prior = fs::symlink_metadata(&target).unwrap();
    assert_eq!(prior.mode() & 0o7777, 0o4755);

    let engine = permissive();
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let report = commit(&engine, &plan);
    assert_eq!(report.actions[0].before, Kind::File);
    assert_eq!(report.actions[0].after, Kind::Symlink);
    assert_eq!(
        fs::read_link(&target).unwrap(),
        std::path::Path::new("../../opt/uutils/ls")
    );
    assert_eq!(fs::read(&target).unwrap(), b"uutils ls\n");
    // The prior inode itself sits under the backup name, untouched.
    let backup = fs::symlink_metadata(sb.path("usr/bin/.ls.switchyard.1.bak")).unwrap();
    assert_eq!(backup.ino(), prior.ino());

    roll_back(&engine, &plan);
    let after = fs::symlink_metadata(&target).unwrap();
    assert_eq!(
        after.ino(),
        prior.ino(),
        "rollback must bring back the same inode, not a copy"
    );
    assert_eq!(after.mode() & 0o7777, 0o4755);
    assert_eq!((after.uid(), after.gid()), (1000, 1001));
    assert_eq!(fs::read(&target).unwrap(), b"GNU ls\n");
    assert_eq!(user_xattrs(&target)["user.origin"], b"gnu");
    assert_eq!(sb.snapshot_without_sidecars(), before);
}

/// Proves: REQ-R2
#[test]
fn symlink_comes_back_with_its_destination() {
    let sb = Sandbox::new("roundtrip-symlink");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .symlink("usr/bin/dir", "ls")
        .file("opt/uutils/dir", "uutils dir\n", 0o755);
    let before = sb.snapshot();
    let engine = permissive();
    let plan = sb.plan(&[("opt/uutils/dir", "usr/bin/dir")]);
    commit(&engine, &plan);
    assert_eq!(
        fs::read_link(sb.path("usr/bin/dir")).unwrap(),
        std::path::Path::new("../../opt/uutils/dir")
    );
    roll_back(&engine, &plan);
    assert_eq!(
        fs::read_link(sb.path("usr/bin/dir")).unwrap(),
        std::path::Path::new("ls")
    );
    assert_eq!(sb.snapshot_without_sidecars(), before);
}

/// Proves: REQ-R2
#[test]
fn absent_target_is_absent_again() {
    let sb = Sandbox::new("roundtrip-none");
    sb.dir("usr/bin")
        .file("opt/uutils/hostname", "uutils\n", 0o755);
    let before = sb.snapshot();
    let engine = permissive();
    let plan = sb.plan(&[("opt/uutils/hostname", "usr/bin/hostname")]);
    let report = commit(&engine, &plan);
    assert_eq!(report.actions[0].before, Kind::None);
    assert!(
        fs::symlink_metadata(sb.path("usr/bin/hostname"))
            .unwrap()
            .is_symlink()
    );
    roll_back(&engine, &plan);
    assert!(fs::symlink_metadata(sb.path("usr/bin/hostname")).is_err());
    assert_eq!(sb.snapshot_without_sidecars(), before);
}

/// Proves: REQ-R3
#[test]
fn second_and_third_rollback_are_idempotent_noops() {
    let sb = Sandbox::new("roundtrip-idempotent");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let engine = permissive();
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    commit(&engine, &plan);
    let first = roll_back(&engine, &plan);
    assert_eq!(first.restored, 1);
    let restored = sb.snapshot();

    for _ in 0..2 {
        let mut facts = MemorySink::default();
        let again = engine
            .rollback(&plan, RollbackOptions::default(), &mut facts)
            .unwrap();
        assert_eq!((again.restored, again.unchanged), (0, 1));
        let fact = facts
            .facts
            .iter()
            .find(|f| f.stage == Stage::Rollback)
            .unwrap();
        assert_eq!(fact.reason, Some(Reason::IdempotentNoop));
        assert_eq!(fact.decision, Decision::Success);
        assert_eq!(sb.snapshot(), restored, "a no-op rollback changed the tree");
    }
}

/// Proves: REQ-R3
#[test]
fn applying_twice_is_a_noop_that_rollback_does_not_undo() {
    let sb = Sandbox::new("roundtrip-apply-twice");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let engine = permissive();
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    commit(&engine, &plan);
    let linked = sb.snapshot();
    let mut facts = MemorySink::default();
    let second = engine.apply(&plan, ApplyMode::Commit, &mut facts).unwrap();
    assert!(!second.actions[0].changed);
    assert_eq!(sb.snapshot(), linked, "a second apply wrote something");
    assert!(
        facts
            .facts
            .iter()
            .any(|f| f.stage == Stage::ApplyResult && f.reason == Some(Reason::AlreadyLinked))
    );

    // Another plan that links the same target to the same source finds it in place and records
    // nothing, so rolling that plan back leaves the first plan's link alone.
    let same = sb.plan(&[
        ("opt/uutils/ls", "usr/bin/ls"),
        ("opt/uutils/ls", "usr/bin/ls2"),
    ]);
    commit(&engine, &same);
    let report = roll_back(&engine, &same);
    // `ls2` was placed by this plan and is removed again; `ls` was not changed by it.
    assert_eq!((report.restored, report.unchanged), (1, 1));
    assert_eq!(sb.snapshot_without_sidecars(), without_sidecars(linked));
}
