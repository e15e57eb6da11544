//! A process killed at each crash point leaves a tree that rollback restores exactly.
//!
//! The child is this test binary again, in its child role: it installs a crash observer that
//! marks the point and then blocks, and the parent kills it with SIGKILL there.

#[cfg(not(feature = "crash-points"))]
compile_error!(
    "the crash tests need the engine's `crash-points` feature: run `cargo test --workspace`, \
     or `cargo test -p switchyard --features crash-points`"
);

#[path = "engine/support.rs"]
#[allow(dead_code)]
mod support;

use std::fs;
use std::time::{Duration, Instant};

use switchyard::crash::{CrashPoint, set_observer};
use switchyard::{MemorySink, RollbackOptions};

use support::{Sandbox, child_role, commit, permissive, roll_back};

const CRASH_AT: &str = "SWITCHYARD_TEST_CRASH_AT";

const LINKS: [(&str, &str); 3] = [
    ("opt/uutils/dir", "usr/bin/dir"),
    ("opt/uutils/hostname", "usr/bin/hostname"),
    ("opt/uutils/ls", "usr/bin/ls"),
];

fn tree(sb: &Sandbox) {
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .symlink("usr/bin/dir", "ls")
        .file("opt/uutils/ls", "uutils ls\n", 0o755)
        .file("opt/uutils/dir", "uutils dir\n", 0o755)
        .file("opt/uutils/hostname", "uutils hostname\n", 0o755);
}

/// The child: apply (and, for a rollback point, roll back) until the observer stops it.
fn child(dir: std::path::PathBuf) {
    let point: CrashPoint = std::env::var(CRASH_AT).unwrap().parse().unwrap();
    let marker = dir.join("reached");
    set_observer(move |reached, _target| {
        if reached == point {
            fs::write(&marker, point.name()).unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
    });
    let sb = Sandbox {
        root: dir.join("root"),
        dir,
    };
    let engine = permissive();
    let plan = sb.plan(&LINKS);
    commit(&engine, &plan);
    roll_back(&engine, &plan);
}

#[test]
fn kill_at_every_crash_point() {
    if let Some(dir) = child_role() {
        child(dir);
        return;
    }
    assert_eq!(CrashPoint::ALL.len(), 8);
    for point in CrashPoint::ALL {
        let sb = Sandbox::new(&format!("crash-{}", point.name()));
        tree(&sb);
        let before = sb.snapshot();
        let plan = sb.plan(&LINKS);

        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "kill_at_every_crash_point",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(support::CHILD_ENV, &sb.dir)
            .env(CRASH_AT, point.name())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let marker = sb.dir.join("reached");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !marker.exists() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{point}: the child ended ({status}) without reaching the point");
            }
            assert!(Instant::now() < deadline, "{point}: not reached in time");
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();

        // Every target exists and is either its prior object or the new link.
        for (source, target) in LINKS {
            let path = sb.path(target);
            let now = fs::symlink_metadata(&path);
            let prior = before.get(target);
            match (prior, now) {
                (None, Err(_)) => {}
                (Some(_), Err(e)) => panic!("{point}: {target} is missing: {e}"),
                (_, Ok(meta))
                    if meta.is_symlink() && fs::read_link(&path).unwrap().ends_with(source) => {}
                (Some(p), Ok(_)) => assert_eq!(sb.snapshot()[target], *p, "{point}: {target}"),
                (None, Ok(_)) => panic!("{point}: {target} is neither absent nor the new link"),
            }
        }

        // Rollback in a fresh process state brings back the exact prior tree, with no debris.
        let engine = permissive();
        engine
            .rollback(
                &plan,
                RollbackOptions::default(),
                &mut MemorySink::default(),
            )
            .unwrap_or_else(|e| panic!("{point}: rollback after the crash failed: {e}"));
        assert_eq!(
            sb.snapshot_without_sidecars(),
            before,
            "{point}: rollback was not exact"
        );
        // And a second rollback is a no-op.
        roll_back(&engine, &plan);
        assert_eq!(sb.snapshot_without_sidecars(), before, "{point}");
    }
}
