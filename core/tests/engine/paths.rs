//! Paths stay inside the root: merged-/usr parents resolve inside it, and a parent swapped for
//! a symlink to the outside mid-operation never leads a write out of it.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use switchyard::{ApplyMode, ErrorId, LinkRequest, MemorySink, Plan, RollbackOptions, SafePath};

use crate::support::{Sandbox, commit, permissive, roll_back};

/// Proves: REQ-E6
#[test]
fn a_merged_usr_parent_gets_a_link_that_resolves_from_its_real_directory() {
    let sb = Sandbox::new("paths-merged-usr");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .symlink("bin", "usr/bin")
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let engine = permissive();
    let plan = sb.plan(&[("opt/uutils/ls", "bin/ls")]);
    commit(&engine, &plan);
    // The link lives in usr/bin, so it climbs two levels, not one.
    assert_eq!(
        fs::read_link(sb.path("usr/bin/ls")).unwrap(),
        Path::new("../../opt/uutils/ls")
    );
    assert_eq!(fs::read(sb.path("bin/ls")).unwrap(), b"uutils ls\n");
    assert!(fs::symlink_metadata(sb.path("bin")).unwrap().is_symlink());
    roll_back(&engine, &plan);
    assert_eq!(fs::read(sb.path("usr/bin/ls")).unwrap(), b"GNU ls\n");
}

/// Proves: REQ-C2
#[test]
fn an_absolute_symlink_in_a_parent_resolves_inside_the_root() {
    let sb = Sandbox::new("paths-absolute-parent");
    let outside = sb.dir.join("outside");
    fs::create_dir_all(&outside).unwrap();
    sb.file("opt/uutils/ls", "uutils ls\n", 0o755)
        .dir("etc")
        // Outside the root this would point at the real outside directory.
        .symlink("usr", outside.to_str().unwrap());
    let err = permissive()
        .apply(
            &sb.plan(&[("opt/uutils/ls", "usr/ls")]),
            ApplyMode::Commit,
            &mut MemorySink::default(),
        )
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Policy, "{err}");
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}

/// Proves: REQ-C2
#[test]
fn a_parent_swapped_for_a_symlink_mid_apply_never_leads_outside() {
    let sb = Sandbox::new("paths-race");
    let outside = sb.dir.join("outside");
    fs::create_dir_all(&outside).unwrap();
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let engine = permissive();
    let plan = Plan::links([LinkRequest {
        source: SafePath::new(&sb.root, "opt/uutils/ls").unwrap(),
        target: SafePath::new(&sb.root, "usr/bin/ls").unwrap(),
    }])
    .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU32::new(0));
    let attacker = {
        let (stop, swaps) = (Arc::clone(&stop), Arc::clone(&swaps));
        let (bin, real, outside) = (sb.path("usr/bin"), sb.path("usr/bin.real"), outside.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if fs::rename(&bin, &real).is_ok() {
                    let dest = if swaps.load(Ordering::Relaxed) % 2 == 0 {
                        outside.to_string_lossy().into_owned()
                    } else {
                        "../../outside".to_owned()
                    };
                    symlink(&dest, &bin).unwrap();
                    thread::yield_now();
                    fs::remove_file(&bin).unwrap();
                    fs::rename(&real, &bin).unwrap();
                    swaps.fetch_add(1, Ordering::Relaxed);
                    // Leave the real directory in place for a moment, so operations also
                    // succeed and write while the attacker keeps coming back.
                    thread::sleep(Duration::from_micros(50));
                }
            }
        })
    };
    // Run until both sides have had plenty of turns: the engine is fast when the parent is
    // missing and could otherwise finish before the attacker is scheduled.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut outcomes = (0u32, 0u32);
    while (outcomes.0 + outcomes.1 < 300 || swaps.load(Ordering::Relaxed) < 300)
        && Instant::now() < deadline
    {
        let applied = engine.apply(&plan, ApplyMode::Commit, &mut MemorySink::default());
        let _ = engine.rollback(
            &plan,
            RollbackOptions::default(),
            &mut MemorySink::default(),
        );
        if applied.is_ok_and(|r| r.actions[0].changed) {
            outcomes.0 += 1;
        } else {
            outcomes.1 += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    attacker.join().unwrap();
    let swaps = swaps.load(Ordering::Relaxed);
    assert!(
        swaps >= 300,
        "the attacker only swapped {swaps} times; the race was not exercised"
    );
    assert!(
        outcomes.0 > 0,
        "no apply ever succeeded; the test exercised only failures"
    );
    let escaped: Vec<_> = fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        escaped.is_empty(),
        "the engine wrote outside the root: {escaped:?} ({outcomes:?})"
    );
}

/// The positive case only in-root resolution passes: `usr/bin -> /usr/lib/alt` is the root's own
/// `usr/lib/alt` (on the host there is no such directory).
#[test]
fn an_absolute_symlink_inside_the_root_leads_to_the_roots_own_directory() {
    let sb = Sandbox::new("paths-absolute-inside");
    sb.file("usr/lib/alt/ls", "GNU ls\n", 0o755)
        .symlink("usr/bin", "/usr/lib/alt")
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    assert!(
        !Path::new("/usr/lib/alt").exists(),
        "this machine has a /usr/lib/alt, so the test cannot tell in-root resolution from the host's"
    );
    let before = sb.snapshot();
    let engine = permissive();
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    commit(&engine, &plan);
    assert_eq!(
        fs::read_link(sb.path("usr/lib/alt/ls")).unwrap(),
        Path::new("../../../opt/uutils/ls")
    );
    roll_back(&engine, &plan);
    assert_eq!(sb.snapshot_without_sidecars(), before);
}
