//! A process killed at each crash point leaves a tree that rollback restores exactly.
//!
//! The child is this test binary again, in its child role: it installs a crash observer that
//! marks the point and then blocks, and the parent kills it with SIGKILL there.

#[path = "engine/support.rs"]
#[allow(dead_code)]
mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use switchyard::crash::{CrashPoint, set_observer};
use switchyard::{
    ApplyMode, Error, MemorySink, Policy, RollbackOptions, Switchyard, store_dir_for_root,
};

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
fn child(dir: PathBuf) {
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

/// Proves: REQ-E4
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

/// A child's apply ended with `err`: writes its id and message for the parent to read.
fn report(dir: &Path, err: Error) {
    fs::write(dir.join("error"), format!("{}\n{err}", err.id())).unwrap();
}

/// Runs the test `test` in its child role over the sandbox and returns the id and message of
/// the error the child's apply reported.
fn child_error(test: &str, sb: &Sandbox) -> (String, String) {
    let status = support::spawn_child_role(test, &sb.dir).wait().unwrap();
    assert!(status.success(), "the child failed: {status}");
    let reported = fs::read_to_string(sb.dir.join("error")).unwrap();
    let (id, message) = reported.split_once('\n').unwrap();
    (id.to_owned(), message.to_owned())
}

/// An engine whose backup store is in the sandbox, on the tree's filesystem but outside it.
fn store_engine(dir: &Path) -> Switchyard {
    Switchyard::new(Policy {
        backup_store: Some(dir.join("store")),
        ..Policy::permissive()
    })
}

const STRANDED: [(&str, &str); 1] = [("opt/uutils/ls", "usr/bin/ls")];

/// The child of the stranded-original tests: at the exchange it makes the target's directory
/// immutable, so both the backup rename and the exchange back fail; it reports the error.
fn strand_child(dir: PathBuf, engine: &Switchyard) {
    let bin = dir.join("root/usr/bin");
    set_observer(move |reached, _target| {
        if reached == CrashPoint::ApplyAfterSwap {
            support::set_immutable(&bin, true);
        }
    });
    let sb = Sandbox {
        root: dir.join("root"),
        dir,
    };
    let result = engine.apply(
        &sb.plan(&STRANDED),
        ApplyMode::Commit,
        &mut MemorySink::default(),
    );
    support::set_immutable(&sb.path("usr/bin"), false);
    report(
        &sb.dir,
        result.expect_err("the apply succeeded in an immutable directory"),
    );
}

/// Runs the stranded-original test `test` and checks that apply named the original's place,
/// kept `sidecar`, and that a rollback by `engine` then brings the original back, same inode.
fn strand_and_recover(test: &str, sb: &Sandbox, engine: &Switchyard, sidecar: &Path) {
    let before = sb.snapshot();
    let (id, message) = child_error(test, sb);
    assert_eq!(id, "E_RESTORE_FAILED", "{message}");
    assert!(message.contains(".ls.switchyard.1.tmp"), "{message}");
    assert!(
        sidecar.exists(),
        "the sidecar of the stranded original was deleted"
    );

    let report = roll_back(engine, &sb.plan(&STRANDED));
    assert_eq!(report.restored, 1);
    assert_eq!(sb.snapshot_without_sidecars(), before);
}

fn stranded_tree(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    sb
}

/// When the swap fails after the exchange and putting the original back fails too, the original
/// stays under the temporary name: apply says so (`E_RESTORE_FAILED`, naming it), keeps the
/// sidecar that describes it, and a later rollback brings it back, same inode.
/// Proves: REQ-FAIL1
#[test]
fn a_failed_undo_keeps_the_record_of_the_stranded_original() {
    if let Some(dir) = child_role() {
        strand_child(dir, &permissive());
        return;
    }
    let sb = stranded_tree("stranded-original");
    strand_and_recover(
        "a_failed_undo_keeps_the_record_of_the_stranded_original",
        &sb,
        &permissive(),
        &sb.path("usr/bin/.ls.switchyard.1.json"),
    );
}

/// The same with the sidecar in a backup store. Beside the target, the immutable directory
/// alone keeps the sidecar from being discarded; in the store only apply's decision to keep
/// the record of what it could not put back does.
#[test]
fn a_failed_undo_with_a_store_keeps_the_record_of_the_stranded_original() {
    if let Some(dir) = child_role() {
        let engine = store_engine(&dir);
        strand_child(dir, &engine);
        return;
    }
    let sb = stranded_tree("stranded-original-store");
    fs::create_dir_all(sb.dir.join("store")).unwrap();
    let sidecar = store_dir_for_root(&sb.dir.join("store"), &sb.root)
        .unwrap()
        .join("usr/bin/.ls.switchyard.1.json");
    strand_and_recover(
        "a_failed_undo_with_a_store_keeps_the_record_of_the_stranded_original",
        &sb,
        &store_engine(&sb.dir),
        &sidecar,
    );
}

/// The child of the replaced-target tests: right before the exchange (or, with `fallback`, the
/// hard-link fallback, with `RENAME_EXCHANGE` taken away), another process replaces the target
/// with a new file (same bytes and mode, as a package reinstall would); it reports the apply's
/// error.
fn replace_child(dir: PathBuf, fallback: bool) {
    switchyard::crash::set_exchange_unsupported(fallback);
    let target = dir.join("root/usr/bin/ls");
    let done = std::sync::atomic::AtomicBool::new(false);
    set_observer(move |reached, _target| {
        if reached == CrashPoint::ApplyAfterTempLink
            && !done.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let fresh = target.with_file_name("ls.dpkg-new");
            fs::write(&fresh, "GNU ls\n").unwrap();
            fs::set_permissions(&fresh, fs::Permissions::from_mode(0o755)).unwrap();
            fs::rename(&fresh, &target).unwrap();
        }
    });
    let sb = Sandbox {
        root: dir.join("root"),
        dir,
    };
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let result = permissive().apply(&plan, ApplyMode::Commit, &mut MemorySink::default());
    report(
        &sb.dir,
        result.expect_err("the apply swapped out an object it never inspected"),
    );
}

/// Runs the replaced-target test `test`: apply fails `E_DRIFT`, the replacement is in place,
/// untouched, and nothing of the engine's is left (no backup of it, no temporary, no sidecar).
fn replaced_and_refused(test: &str, name: &str) {
    let sb = Sandbox::new(name);
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let (id, message) = child_error(test, &sb);
    assert_eq!(id, "E_DRIFT", "{message}");
    let now = sb.snapshot();
    assert_eq!(now["usr/bin/ls"].content.as_deref(), Some(&b"GNU ls\n"[..]));
    assert_eq!(
        now.keys()
            .filter(|p| p.starts_with("usr/bin/"))
            .collect::<Vec<_>>(),
        ["usr/bin/ls"],
        "debris or a backup of the replaced object was left"
    );
}

/// A target replaced between preflight and the exchange is not swapped into the backup under a
/// sidecar that describes the old object: apply checks what the exchange took out (inode and
/// fingerprint), swaps it back and fails `E_DRIFT`.
#[test]
fn a_target_replaced_before_the_exchange_is_swapped_back() {
    if let Some(dir) = child_role() {
        replace_child(dir, false);
        return;
    }
    replaced_and_refused(
        "a_target_replaced_before_the_exchange_is_swapped_back",
        "replaced-before-exchange",
    );
}

/// Where `RENAME_EXCHANGE` is unsupported the backup is a hard link made before the rename over
/// the target: apply checks that what it linked is the object preflight inspected, and a
/// replacement is refused `E_DRIFT` before the rename, its backup link removed.
#[test]
fn a_target_replaced_before_the_hard_link_fallback_is_refused() {
    if let Some(dir) = child_role() {
        replace_child(dir, true);
        return;
    }
    replaced_and_refused(
        "a_target_replaced_before_the_hard_link_fallback_is_refused",
        "replaced-before-fallback",
    );
}

/// The child of the failed-undo test: once the first action is swapped, its directory becomes
/// immutable, so the undo after the second action's failure cannot put the first back.
fn undo_fails_child(dir: PathBuf) {
    let bin = dir.join("root/usr/bin");
    let done = std::sync::atomic::AtomicBool::new(false);
    set_observer(move |reached, _target| {
        if reached == CrashPoint::ApplyAfterBackupRename
            && !done.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            support::set_immutable(&bin, true);
        }
    });
    let sb = Sandbox {
        root: dir.join("root"),
        dir,
    };
    let plan = sb.plan(&[
        ("opt/uutils/aa", "usr/bin/aa"),
        ("opt/uutils/zz", "usr/sbin/zz"),
    ]);
    let result = permissive().apply(&plan, ApplyMode::Commit, &mut MemorySink::default());
    support::set_immutable(&sb.path("usr/bin"), false);
    support::set_immutable(&sb.path("usr/sbin/zz"), false);
    report(
        &sb.dir,
        result.expect_err("the apply succeeded over an immutable file"),
    );
}

/// A failed apply whose undo fails too does not report only the first failure: it says the
/// plan stays partly applied (`E_RESTORE_FAILED`), and a later rollback finishes the undo.
/// Proves: REQ-FAIL1
#[test]
fn an_apply_whose_undo_fails_says_so_and_rollback_finishes_it() {
    if let Some(dir) = child_role() {
        undo_fails_child(dir);
        return;
    }
    let sb = Sandbox::new("undo-fails");
    sb.file("usr/bin/aa", "GNU aa\n", 0o755)
        .file("usr/sbin/zz", "GNU zz\n", 0o755)
        .file("opt/uutils/aa", "uutils aa\n", 0o755)
        .file("opt/uutils/zz", "uutils zz\n", 0o755);
    support::set_immutable(&sb.path("usr/sbin/zz"), true);
    let before = sb.snapshot();
    let (id, message) = child_error(
        "an_apply_whose_undo_fails_says_so_and_rollback_finishes_it",
        &sb,
    );
    assert_eq!(id, "E_RESTORE_FAILED", "{message}");
    assert!(message.contains("usr/bin/aa"), "{message}");
    assert!(
        fs::read_link(sb.path("usr/bin/aa")).is_ok(),
        "aa was put back"
    );

    let plan = sb.plan(&[
        ("opt/uutils/aa", "usr/bin/aa"),
        ("opt/uutils/zz", "usr/sbin/zz"),
    ]);
    roll_back(&permissive(), &plan);
    assert_eq!(sb.snapshot_without_sidecars(), before);
}
