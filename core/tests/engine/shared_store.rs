//! Two roots that share one backup store keep their backups apart.

use std::fs;

use switchyard::{Policy, Switchyard, store_dir_for_root};

use crate::support::{Sandbox, commit, roll_back};

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
    let engine = Switchyard::new(Policy {
        backup_store: Some(store.clone()),
        ..Policy::permissive()
    });
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
