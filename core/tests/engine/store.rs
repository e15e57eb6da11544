//! REQ-F1/F2: a backup store on another filesystem (a real tmpfs mount) degrades to a copy,
//! reported as such; rollback restores exactly; policy can forbid the copy.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::path::{Path, PathBuf};

use switchyard::{
    ApplyMode, ErrorId, MemorySink, Policy, Reason, RollbackOptions, Stage, Switchyard,
    store_dir_for_root,
};

use crate::support::{Sandbox, Snapshot, commit, roll_back, set_xattr, user_xattrs};

/// A tmpfs mounted for one test; unmounted when dropped.
pub(crate) struct Tmpfs(pub(crate) PathBuf);

impl Tmpfs {
    pub(crate) fn mount(at: &Path) -> Tmpfs {
        fs::create_dir_all(at).unwrap();
        rustix::mount::mount(
            "tmpfs",
            at,
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            c"size=16m",
        )
        .unwrap_or_else(|e| {
            panic!(
                "cannot mount a tmpfs at {} ({e}): these tests need root (or CAP_SYS_ADMIN) \
                     to put the backup store on a second filesystem",
                at.display()
            )
        });
        Tmpfs(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Err(e) = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH) {
            eprintln!("cannot unmount {}: {e}", self.0.display());
        }
    }
}

fn tree(name: &str) -> (Sandbox, Tmpfs) {
    let sb = Sandbox::new(name);
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let target = sb.path("usr/bin/ls");
    chown(&target, Some(1000), Some(1000)).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o4750)).unwrap();
    set_xattr(&target, "user.origin", b"gnu");
    let store = Tmpfs::mount(&sb.dir.join("store"));
    (sb, store)
}

fn engine(store: &Path, allow_degraded: bool) -> Switchyard {
    Switchyard::new(Policy {
        backup_store: Some(store.to_owned()),
        allow_degraded,
        ..Policy::permissive()
    })
}

/// The store's copy of the tree's `usr/bin`.
fn store_bin(sb: &Sandbox, store: &Tmpfs) -> PathBuf {
    store_dir_for_root(&store.0, &sb.root)
        .unwrap()
        .join("usr/bin")
}

/// Across filesystems the restored `usr/bin/ls` is a copy: everything but the inode number
/// matches what was there before.
fn assert_restored_as_a_copy(sb: &Sandbox, before: &Snapshot) {
    let mut after = sb.snapshot();
    let mut expected = before.clone();
    for snap in [&mut after, &mut expected] {
        snap.get_mut("usr/bin/ls").unwrap().ino = 0;
    }
    assert_eq!(after, expected);
}

/// Proves: REQ-F1, REQ-C6
#[test]
fn a_store_on_another_filesystem_degrades_to_a_copy_and_restores_exactly() {
    let (sb, store) = tree("store-degraded");
    let before = sb.snapshot();
    let engine = engine(&store.0, true);
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let mut facts = MemorySink::default();
    let report = engine.apply(&plan, ApplyMode::Commit, &mut facts).unwrap();
    assert!(report.degraded());
    let result = facts
        .facts
        .iter()
        .find(|f| f.stage == Stage::ApplyResult && f.action_id.is_some())
        .unwrap();
    assert_eq!(result.degraded, Some(true));
    assert_eq!(result.reason, Some(Reason::CrossFilesystemCopy));

    // The copy in the store carries mode, owner and xattrs; nothing is left beside the target.
    let ours = store_dir_for_root(&store.0, &sb.root).unwrap();
    let copy = ours.join("usr/bin/.ls.switchyard.1.bak");
    let meta = fs::symlink_metadata(&copy).unwrap();
    assert_eq!(
        (meta.mode() & 0o7777, meta.uid(), meta.gid()),
        (0o4750, 1000, 1000)
    );
    assert_eq!(user_xattrs(&copy)["user.origin"], b"gnu");
    assert!(ours.join("usr/bin/.ls.switchyard.1.json").exists());
    let beside: Vec<_> = fs::read_dir(sb.path("usr/bin"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["ls"]);

    let mut facts = MemorySink::default();
    engine
        .rollback(&plan, RollbackOptions::default(), &mut facts)
        .unwrap();
    let rolled = facts
        .facts
        .iter()
        .find(|f| f.stage == Stage::Rollback)
        .unwrap();
    assert_eq!(rolled.degraded, Some(true));
    assert_restored_as_a_copy(&sb, &before);
    assert!(!copy.exists(), "the store copy was consumed by the restore");
}

/// Proves: REQ-F2
#[test]
fn with_the_copy_forbidden_apply_fails_e_exdev_and_changes_nothing() {
    let (sb, store) = tree("store-forbidden");
    let before = sb.snapshot();
    let err = engine(&store.0, false)
        .apply(
            &sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]),
            ApplyMode::Commit,
            &mut MemorySink::default(),
        )
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Exdev);
    assert_eq!(err.exit_code(), 50);
    assert_eq!(sb.snapshot(), before);
    assert_eq!(
        fs::read_dir(&store.0).unwrap().count(),
        0,
        "the store was written to"
    );
}

/// Proves: REQ-F1
#[test]
fn a_store_on_the_same_filesystem_keeps_the_inode() {
    let sb = Sandbox::new("store-same-fs");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let store = sb.dir.join("store");
    fs::create_dir_all(&store).unwrap();
    let before = sb.snapshot();
    let engine = engine(&store, false);
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let report = commit(&engine, &plan);
    assert!(!report.degraded());
    assert_eq!(
        fs::symlink_metadata(
            store_dir_for_root(&store, &sb.root)
                .unwrap()
                .join("usr/bin/.ls.switchyard.1.bak")
        )
        .unwrap()
        .ino(),
        before["usr/bin/ls"].ino
    );
    roll_back(&engine, &plan);
    assert_eq!(sb.snapshot(), before);
}

/// A file of someone else's under the name the store's copy would be made at is refused before
/// anything changes, as it is beside the target.
#[test]
fn a_file_in_the_way_of_the_store_copy_is_refused() {
    let (sb, store) = tree("store-copy-in-the-way");
    let ours = store_dir_for_root(&store.0, &sb.root).unwrap();
    fs::create_dir_all(ours.join("usr/bin")).unwrap();
    let in_the_way = ours.join("usr/bin/.ls.switchyard.1.bak.tmp");
    fs::write(&in_the_way, "a user's notes\n").unwrap();
    let before = sb.snapshot();
    let err = engine(&store.0, true)
        .apply(
            &sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]),
            ApplyMode::Commit,
            &mut MemorySink::default(),
        )
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Policy, "{err}");
    assert!(
        err.to_string().contains(".ls.switchyard.1.bak.tmp"),
        "{err}"
    );
    assert_eq!(sb.snapshot(), before);
    assert_eq!(fs::read(&in_the_way).unwrap(), b"a user's notes\n");
}

/// Rolling back from a store on another filesystem copies the backup back beside the target
/// under `.ls.switchyard.1.bak.tmp` first. A file of someone else's under that name is refused
/// before anything changes; a copy an interrupted rollback left there (a prefix of the backup's
/// bytes, still 0600) is the engine's, and replaced.
#[test]
fn a_file_in_the_way_of_the_copy_back_is_refused() {
    let (sb, store) = tree("store-copy-back-in-the-way");
    let before = sb.snapshot();
    let engine = engine(&store.0, true);
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    commit(&engine, &plan);
    let in_the_way = sb.path("usr/bin/.ls.switchyard.1.bak.tmp");
    fs::write(&in_the_way, "a user's notes\n").unwrap();
    let linked = sb.snapshot();
    let err = engine
        .rollback(
            &plan,
            RollbackOptions::default(),
            &mut MemorySink::default(),
        )
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Policy, "{err}");
    assert!(
        err.to_string().contains(".ls.switchyard.1.bak.tmp"),
        "{err}"
    );
    assert_eq!(sb.snapshot(), linked);

    fs::write(&in_the_way, "GNU").unwrap();
    fs::set_permissions(&in_the_way, fs::Permissions::from_mode(0o600)).unwrap();
    roll_back(&engine, &plan);
    assert_restored_as_a_copy(&sb, &before);
}

/// After a rollback from a store on another filesystem, pruning its generation removes only
/// copies it provably made: a file of someone else's under the copy's name, beside the target or
/// in the store, fails the prune, named, and stays.
#[test]
fn prune_keeps_a_file_under_the_name_of_a_copy() {
    for in_store in [false, true] {
        let (sb, store) = tree(&format!("store-prune-copy-name-{in_store}"));
        let engine = engine(&store.0, true);
        let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
        for _ in 0..2 {
            commit(&engine, &plan);
            roll_back(&engine, &plan);
        }
        let dir = if in_store {
            store_bin(&sb, &store)
        } else {
            sb.path("usr/bin")
        };
        let users = dir.join(".ls.switchyard.1.bak.tmp");
        fs::write(&users, "a user's notes\n").unwrap();
        let err = engine
            .prune(&plan, 1, &mut MemorySink::default())
            .unwrap_err();
        assert_eq!(err.id(), ErrorId::Policy, "in store: {in_store}: {err}");
        assert!(
            err.to_string().contains(".ls.switchyard.1.bak.tmp"),
            "{err}"
        );
        assert_eq!(fs::read(&users).unwrap(), b"a user's notes\n");
    }
}

/// An apply stopped while copying the prior object into a store on another filesystem leaves
/// the object under the temporary name beside the target and part of its copy in the store. The
/// rollback puts the object back and removes the partial copy: its bytes are a prefix of the
/// restored target's, so it is the engine's.
#[test]
fn rollback_removes_the_partial_copy_an_interrupted_apply_left_in_the_store() {
    let (sb, store) = tree("store-partial-copy");
    let before = sb.snapshot();
    let engine = engine(&store.0, true);
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    commit(&engine, &plan);
    // The state of that stop, made from the committed one: the prior object beside the target,
    // a 0600 prefix of it in the store instead of the finished copy.
    let ours = store_bin(&sb, &store);
    let temp = sb.path("usr/bin/.ls.switchyard.1.tmp");
    fs::copy(ours.join(".ls.switchyard.1.bak"), &temp).unwrap();
    chown(&temp, Some(1000), Some(1000)).unwrap();
    fs::set_permissions(&temp, fs::Permissions::from_mode(0o4750)).unwrap();
    set_xattr(&temp, "user.origin", b"gnu");
    fs::remove_file(ours.join(".ls.switchyard.1.bak")).unwrap();
    let partial = ours.join(".ls.switchyard.1.bak.tmp");
    fs::write(&partial, "GNU l").unwrap();
    fs::set_permissions(&partial, fs::Permissions::from_mode(0o600)).unwrap();

    roll_back(&engine, &plan);
    assert!(!partial.exists(), "the partial copy was left in the store");
    assert_restored_as_a_copy(&sb, &before);
}

/// A file of someone else's in the root's directory of the store is named by where it is: its
/// absolute path, in the backup store (relative to the store, it would read as a path of the
/// root).
#[test]
fn a_file_in_the_store_is_named_by_its_place_in_the_store() {
    let sb = Sandbox::new("store-foreign-named");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let store = sb.dir.join("store");
    let ours = store_dir_for_root(&store, &sb.root)
        .unwrap()
        .join("usr/bin");
    fs::create_dir_all(&ours).unwrap();
    fs::write(ours.join(".ls.switchyard.1.bak"), "a user's notes\n").unwrap();
    let err = engine(&store, false)
        .apply(
            &sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]),
            ApplyMode::Commit,
            &mut MemorySink::default(),
        )
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Policy, "{err}");
    let path = fs::canonicalize(&ours)
        .unwrap()
        .join(".ls.switchyard.1.bak");
    assert!(
        err.to_string()
            .contains(&format!("`{}` in the backup store", path.display())),
        "{err}"
    );
}

/// A power cut after the store's copy was synced and before the target's directory was leaves
/// the original where it was, beside a durable sidecar and the copy. That is no drift: rollback
/// keeps the original inode and drops the copy (which holds nothing the original lacks).
/// Proves: REQ-F2
#[test]
fn the_original_left_in_place_by_a_power_cut_during_a_copying_apply_is_the_prior_object() {
    let (sb, store) = tree("store-original-in-place");
    let before = sb.snapshot();
    let original = fs::symlink_metadata(sb.path("usr/bin/ls")).unwrap().ino();
    // The directory entry the power cut would have kept, held by a second name.
    fs::hard_link(sb.path("usr/bin/ls"), sb.path("kept-ls")).unwrap();
    let engine = engine(&store.0, true);
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    commit(&engine, &plan);
    fs::rename(sb.path("kept-ls"), sb.path("usr/bin/ls")).unwrap();

    let report = roll_back(&engine, &plan);
    assert_eq!(report.unchanged + report.restored, 1, "{report:?}");
    let now = fs::symlink_metadata(sb.path("usr/bin/ls")).unwrap().ino();
    assert_eq!(
        now, original,
        "the original inode was replaced by the store's copy"
    );
    assert_eq!(sb.snapshot_without_sidecars(), before);
    let store_bin = store_bin(&sb, &store);
    assert!(
        !store_bin.join(".ls.switchyard.1.bak").exists(),
        "the store's copy of a target that is its prior object again was kept"
    );
}

/// A reinstall while switched that lost what the copy kept (here an extended attribute) is
/// drift: the copy is the only place left with it.
#[test]
fn an_equal_reinstall_without_the_originals_xattrs_is_drift_and_the_copy_is_kept() {
    let (sb, store) = tree("store-reinstall-without-xattr");
    let engine = engine(&store.0, true);
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    commit(&engine, &plan);
    fs::remove_file(sb.path("usr/bin/ls")).unwrap();
    sb.file("usr/bin/ls", "GNU ls\n", 0o755);
    let target = sb.path("usr/bin/ls");
    chown(&target, Some(1000), Some(1000)).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o4750)).unwrap();

    let err = engine
        .rollback(
            &plan,
            RollbackOptions::default(),
            &mut MemorySink::default(),
        )
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Drift, "{err}");
    let store_bin = store_bin(&sb, &store);
    assert_eq!(
        user_xattrs(&store_bin.join(".ls.switchyard.1.bak")).get("user.origin"),
        Some(&b"gnu".to_vec()),
        "the copy with the original's attributes was not kept"
    );
}
