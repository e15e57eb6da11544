//! Two roots that share one backup store keep their backups apart.

use std::fs;
use std::path::{Path, PathBuf};

use switchyard::{
    ErrorId, LinkRequest, MemorySink, Plan, Policy, RollbackOptions, SafePath, Switchyard,
    store_dir_for_root,
};

use crate::support::{Sandbox, commit, roll_back};

/// A bind mount made for one test; unmounted when dropped.
struct BindMount(PathBuf);

impl BindMount {
    fn mount(source: &Path, at: &Path) -> BindMount {
        fs::create_dir_all(at).unwrap();
        rustix::mount::mount_bind(source, at).unwrap_or_else(|e| {
            panic!(
                "cannot bind-mount {} at {} ({e}): this test needs root (or CAP_SYS_ADMIN)",
                source.display(),
                at.display()
            )
        });
        BindMount(at.to_owned())
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        if let Err(e) = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH) {
            eprintln!("cannot unmount {}: {e}", self.0.display());
        }
    }
}

fn store_engine(store: &Path) -> Switchyard {
    Switchyard::new(Policy {
        backup_store: Some(store.to_owned()),
        ..Policy::permissive()
    })
}

#[test]
fn two_roots_sharing_a_store_each_get_their_own_file_back() {
    let a = Sandbox::new("shared-store-a");
    let b = Sandbox::new("shared-store-b");
    for (sb, ls) in [(&a, "GNU ls of A\n"), (&b, "GNU ls of B\n")] {
        sb.file("usr/bin/ls", ls, 0o755)
            .file("opt/uutils/ls", "uutils ls\n", 0o755);
    }
    let store = a.dir.join("shared-store");
    fs::create_dir_all(&store).unwrap();
    let engine = store_engine(&store);
    // The same requests make the same plan (ids leave the root out), in both roots.
    let (plan_a, plan_b) = (
        a.plan(&[("opt/uutils/ls", "usr/bin/ls")]),
        b.plan(&[("opt/uutils/ls", "usr/bin/ls")]),
    );
    assert_eq!(plan_a.id(), plan_b.id());
    commit(&engine, &plan_a);
    commit(&engine, &plan_b);

    roll_back(&engine, &plan_a);
    assert_eq!(fs::read(a.path("usr/bin/ls")).unwrap(), b"GNU ls of A\n");
    roll_back(&engine, &plan_b);
    assert_eq!(fs::read(b.path("usr/bin/ls")).unwrap(), b"GNU ls of B\n");

    // Each root's backups live under a directory of its own, which callers can find.
    let dir_a = store_dir_for_root(&store, &a.root).unwrap();
    let dir_b = store_dir_for_root(&store, &b.root).unwrap();
    assert_ne!(dir_a, dir_b);
    assert_eq!(dir_a.parent(), Some(store.as_path()));
    assert!(dir_a.join("usr/bin/.ls.switchyard.1.json").exists());
    assert!(dir_b.join("usr/bin/.ls.switchyard.1.json").exists());
}

/// The store knows a root by its path, so the same root reached through a bind mount has no
/// history there. Rolling back through it finds the plan's link and no record: it fails naming
/// the store directory it searched, changes nothing, and the rollback through the root's own
/// path still restores.
#[test]
fn a_root_reached_by_another_path_fails_rollback_naming_the_store_directory() {
    let sb = Sandbox::new("shared-store-bind");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let store = sb.dir.join("store");
    fs::create_dir_all(&store).unwrap();
    let engine = store_engine(&store);
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    commit(&engine, &plan);

    let other = BindMount::mount(&sb.root, &sb.dir.join("bind"));
    let via_other = Plan::links([LinkRequest {
        source: SafePath::new(&other.0, "opt/uutils/ls").unwrap(),
        target: SafePath::new(&other.0, "usr/bin/ls").unwrap(),
    }])
    .unwrap();
    let searched = store_dir_for_root(&store, &other.0)
        .unwrap()
        .join("usr/bin");
    let before = sb.snapshot();
    let err = engine
        .rollback(
            &via_other,
            RollbackOptions::default(),
            &mut MemorySink::default(),
        )
        .unwrap_err();
    drop(other);
    assert_eq!(err.id(), ErrorId::BackupMissing, "{err}");
    assert!(
        err.to_string()
            .contains(&format!("`{}`", searched.display())),
        "{err}"
    );
    assert_eq!(sb.snapshot(), before);

    roll_back(&engine, &plan);
    assert_eq!(fs::read(sb.path("usr/bin/ls")).unwrap(), b"GNU ls\n");
}
