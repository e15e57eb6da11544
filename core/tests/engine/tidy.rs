//! Tidy: after a complete rollback the sidecars go, and the directory is as it was.

use std::fs;

use switchyard::MemorySink;

use crate::support::{Sandbox, commit, permissive, roll_back};

fn tree(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("usr/bin/cat", "GNU cat\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755)
        .file("opt/uutils/cat", "uutils cat\n", 0o755);
    sb
}

#[test]
fn after_a_complete_rollback_tidy_gives_the_directory_its_original_listing() {
    let sb = tree("tidy-complete");
    let engine = permissive();
    let plan = sb.plan(&[
        ("opt/uutils/ls", "usr/bin/ls"),
        ("opt/uutils/cat", "usr/bin/absent"),
    ]);
    let before = sb.snapshot();
    for _ in 0..2 {
        commit(&engine, &plan);
        roll_back(&engine, &plan);
    }
    assert_ne!(sb.snapshot(), before, "the sidecars should still be there");
    let report = engine.tidy(&plan, &mut MemorySink::default()).unwrap();
    assert_eq!((report.removed, report.kept), (4, 0));
    assert_eq!(sb.snapshot(), before);
    assert_eq!(roll_back(&engine, &plan).restored, 0);
}

#[test]
fn tidy_keeps_a_switched_target_and_a_drifted_one_whole() {
    let sb = tree("tidy-keeps");
    let engine = permissive();
    // A link where nothing was has no backup: only its state says it is still switched.
    let plan = sb.plan(&[
        ("opt/uutils/ls", "usr/bin/absent"),
        ("opt/uutils/cat", "usr/bin/cat"),
        ("opt/uutils/ls", "usr/bin/ls"),
    ]);
    commit(&engine, &plan);
    fs::remove_file(sb.path("usr/bin/cat")).unwrap();
    fs::write(sb.path("usr/bin/cat"), "someone else's\n").unwrap();
    let before = sb.snapshot();
    let report = engine.tidy(&plan, &mut MemorySink::default()).unwrap();
    assert_eq!((report.removed, report.kept), (0, 3));
    assert_eq!(sb.snapshot(), before);
    // The switched target can still be rolled back.
    let err = engine
        .rollback(&plan, Default::default(), &mut MemorySink::default())
        .unwrap_err();
    assert_eq!(err.id(), switchyard::ErrorId::Drift);
    assert_eq!(fs::read(sb.path("usr/bin/ls")).unwrap(), b"GNU ls\n");
}
