//! The engine removes only files it provably made: a file of the tree that merely carries one of
//! its names is never deleted; the operation refuses and names it.

use std::fs;

use switchyard::{ApplyMode, ErrorId, MemorySink, RollbackOptions};

use crate::support::{Sandbox, commit, permissive};

fn tree(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    sb
}

#[test]
fn apply_refuses_a_file_of_the_tree_under_a_sidecar_temporary_name() {
    for name in [
        ".ls.switchyard.1.json.tmp",
        ".ls.switchyard.1.tmp",
        ".ls.switchyard.1.bak",
        ".ls.switchyard.1.bak.tmp",
    ] {
        let sb = tree(&format!("foreign-apply-{name}"));
        sb.file(&format!("usr/bin/{name}"), "a user's notes\n", 0o644);
        let before = sb.snapshot();
        let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
        for mode in [ApplyMode::DryRun, ApplyMode::Commit] {
            let err = permissive()
                .apply(&plan, mode, &mut MemorySink::default())
                .unwrap_err();
            assert_eq!(err.id(), ErrorId::Policy, "{name} {mode:?}: {err}");
            assert!(err.to_string().contains(name), "{name}: {err}");
            assert_eq!(sb.snapshot(), before, "{name} {mode:?}: the tree changed");
        }
    }
}

/// A sidecar temporary left by an apply that died while writing it is the engine's: the next
/// apply replaces it.
#[test]
fn apply_replaces_its_own_stale_sidecar_temporary() {
    let sb = tree("own-stale-sidecar-temp");
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    commit(&permissive(), &plan);
    let sidecar = fs::read(sb.path("usr/bin/.ls.switchyard.1.json")).unwrap();
    permissive()
        .rollback(
            &plan,
            RollbackOptions::default(),
            &mut MemorySink::default(),
        )
        .unwrap();
    // Generation 2's sidecar, as a crash before its rename would leave it.
    let stale = String::from_utf8(sidecar)
        .unwrap()
        .replace("\"generation\": 1", "\"generation\": 2");
    fs::write(sb.path("usr/bin/.ls.switchyard.2.json.tmp"), stale).unwrap();
    commit(&permissive(), &plan);
    assert!(!sb.path("usr/bin/.ls.switchyard.2.json.tmp").exists());
    assert!(sb.path("usr/bin/.ls.switchyard.2.json").exists());
}

#[test]
fn rollback_keeps_a_file_of_the_tree_under_an_engine_name() {
    let sb = tree("foreign-rollback");
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    commit(&permissive(), &plan);
    sb.file("usr/bin/.ls.switchyard.1.tmp", "a user's notes\n", 0o644);
    let err = permissive()
        .rollback(
            &plan,
            RollbackOptions::default(),
            &mut MemorySink::default(),
        )
        .unwrap_err();
    assert!(err.to_string().contains(".ls.switchyard.1.tmp"), "{err}");
    assert_eq!(err.id(), ErrorId::Policy, "{err}");
    assert_eq!(
        fs::read(sb.path("usr/bin/.ls.switchyard.1.tmp")).unwrap(),
        b"a user's notes\n"
    );
}
