//! `fsmatrix clean` touches only dead runs of its own work directory: it never follows a
//! symlink, refuses a work directory others could write to, never takes a live run for a dead
//! one, and kills only processes that provably belong to the dead run.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::process::Command;
use std::time::Duration;

use rustix::mount::{MountFlags, UnmountFlags};
use rustix::process::Signal;

use crate::support::{
    Workspace, finish, run, signal, sleeps, sleeps_alive, slow_scenario, spawn, wait_until,
};

/// Kills the `sleep MARKER` processes this test started, and waits until they are gone.
fn end_sleeps(marker: u32) {
    for pid in sleeps(marker) {
        let _ = rustix::process::kill_process(pid, Signal::KILL);
    }
    wait_until(Duration::from_secs(5), "the sleeps to end", || {
        !sleeps_alive(marker)
    });
}

/// Proves: REQ-M5
#[test]
fn clean_never_follows_a_run_symlink_out_of_the_work_dir() {
    let ws = Workspace::new("clean-symlink");
    let victim = ws.dir.join("victim");
    let mnt = victim.join("mnt");
    fs::create_dir_all(&mnt).unwrap();
    fs::write(victim.join("precious"), "keep me").unwrap();
    rustix::mount::mount("tmpfs", &mnt, "tmpfs", MountFlags::empty(), c"size=1m").unwrap();
    symlink(&victim, ws.work.join("run-link")).unwrap();

    let ran = run(ws.fsmatrix(&["clean"], &[]));
    let still_mounted = ws.leaks().mounts.contains(&mnt);
    let precious = fs::read_to_string(victim.join("precious"));
    if still_mounted {
        rustix::mount::unmount(&mnt, UnmountFlags::empty()).unwrap();
    }
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(
        still_mounted,
        "clean unmounted a filesystem outside its work dir"
    );
    assert_eq!(precious.ok().as_deref(), Some("keep me"), "{}", ran.all());
    assert!(
        ran.stdout.contains("run-link alone: a symlink"),
        "{}",
        ran.stdout
    );
}

/// Proves: REQ-M5
#[test]
fn a_work_dir_that_is_a_symlink_or_not_private_is_refused() {
    let ws = Workspace::new("clean-refusals");
    ws.repo_scenario("swap-absent");
    let link = ws.dir.join("work-link");
    symlink(&ws.work, &link).unwrap();
    let open = ws.dir.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o775)).unwrap();
    let theirs = ws.dir.join("theirs");
    fs::create_dir(&theirs).unwrap();
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();

    for (work, says) in [
        (&link, "is a symlink"),
        (&ws.dir.join("work-link/"), "is a symlink"),
        (&open, "mode 0775"),
        (&theirs, "owned by uid 65534"),
    ] {
        for (subcommand, args) in [("clean", &[][..]), ("run", &["--fs", "tmpfs"][..])] {
            let ran = run(ws.fsmatrix_in(work, &[subcommand], args));
            assert_eq!(
                ran.code,
                3,
                "{subcommand} in {}: {}",
                work.display(),
                ran.all()
            );
            assert!(ran.stderr.contains(says), "{}", ran.stderr);
        }
    }
    assert_eq!(fs::read_dir(&ws.work).unwrap().count(), 0);

    // An existing directory of its own that others could only read is refused too, and left as
    // it is: fsmatrix changes the mode of no directory it did not make (a mistyped
    // `--work-dir /var` would lock every other user out of it), and says how to fix it.
    let readable = ws.dir.join("readable");
    fs::create_dir(&readable).unwrap();
    fs::set_permissions(&readable, fs::Permissions::from_mode(0o755)).unwrap();
    for (subcommand, args) in [("clean", &[][..]), ("run", &["--fs", "tmpfs"][..])] {
        let ran = run(ws.fsmatrix_in(&readable, &[subcommand], args));
        assert_eq!(ran.code, 3, "{subcommand}: {}", ran.all());
        assert!(
            ran.stderr
                .contains(&format!("`chmod 700 {}`", readable.display())),
            "{subcommand}: {}",
            ran.stderr
        );
        let mode = fs::symlink_metadata(&readable).unwrap().mode() & 0o7777;
        assert_eq!(
            mode,
            0o755,
            "{subcommand} changed the mode of {}",
            readable.display()
        );
    }
    assert_eq!(fs::read_dir(&readable).unwrap().count(), 0);

    // A work directory fsmatrix makes is private from the start.
    let fresh = ws.dir.join("fresh").join("work");
    let ran = run(ws.fsmatrix_in(&fresh, &["run"], &["--fs", "tmpfs"]));
    assert_eq!(ran.code, 0, "{}", ran.all());
    let meta = fs::symlink_metadata(&fresh).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.mode() & 0o7777, 0o700, "{}", fresh.display());
    assert_eq!(meta.uid(), rustix::process::geteuid().as_raw());
}

/// Proves: REQ-M5
#[test]
fn clean_leaves_a_live_run_alone_whose_work_dir_is_named_like_a_run() {
    let ws = Workspace::new("clean-nested");
    ws.scenario("slow", &slow_scenario(620));
    let nested = ws.work.join("run-nested");
    let child = spawn(ws.fsmatrix_in(&nested, &["run"], &["--fs", "ext4"]));
    wait_until(
        Duration::from_secs(60),
        "the trial to mount its filesystem",
        || !ws.leaks().mounts.is_empty() && sleeps_alive(620),
    );
    let before = ws.leaks();

    let ran = run(ws.fsmatrix(&["clean"], &[]));
    let after = ws.leaks();
    let checking = sleeps_alive(620);
    signal(&child, Signal::INT);
    let done = finish(child);
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert_eq!(after, before, "clean swept a live run: {}", ran.stdout);
    assert!(checking, "clean killed a live run's health check");
    assert!(
        ran.stdout.contains("run-nested alone: it has no run.lock"),
        "{}",
        ran.stdout
    );
    assert_eq!(done.code, 130, "{}", done.all());
    ws.assert_no_leaks();
    assert!(!sleeps_alive(620));
}

/// Proves: REQ-M5
#[test]
fn clean_kills_no_process_group_that_is_no_longer_the_dead_runs() {
    let ws = Workspace::new("clean-pid-reuse");
    ws.scenario("slow", &slow_scenario(621));
    let mut child = spawn(ws.fsmatrix(&["run"], &["--fs", "ext4"]));
    wait_until(
        Duration::from_secs(60),
        "the trial to mount its filesystem",
        || !ws.leaks().mounts.is_empty() && sleeps_alive(621),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // The dead run's trial group ends, and its number goes to an unrelated process, as pid
    // reuse would have it.
    end_sleeps(621);
    let mut unrelated = Command::new("setsid")
        .args(["sleep", "622"])
        .spawn()
        .unwrap();
    let reused = unrelated.id().to_string();
    wait_until(Duration::from_secs(5), "the unrelated process", || {
        sleeps_alive(622)
    });
    let records = ws.files_ending("process-group");
    assert!(!records.is_empty(), "the run recorded no process group");
    for record in &records {
        let text = fs::read_to_string(record).unwrap();
        let pgid = text.split_whitespace().next().unwrap();
        fs::write(record, text.replacen(pgid, &reused, 1)).unwrap();
    }

    let ran = run(ws.fsmatrix(&["clean"], &[]));
    std::thread::sleep(Duration::from_millis(200));
    let survived = sleeps_alive(622);
    let _ = unrelated.kill();
    let _ = unrelated.wait();
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(
        survived,
        "clean killed a process group that was not the run's"
    );
    assert!(ran.stdout.contains("removed "), "{}", ran.stdout);
    ws.assert_no_leaks();
}

/// The audit's setup: a work directory whose parent the user `nobody` owns, holding a dead run
/// with a tmpfs mounted in it. `nobody` could move the work directory away while `clean` works
/// in it as root and put a symlink to any directory in its place, so `clean` (and `run`) refuse
/// it before touching anything. So they do a work directory under one that a group or others
/// may write to, unless that one is sticky and the next directory is root's.
/// Proves: REQ-M5
#[test]
fn a_work_dir_under_a_directory_another_user_can_write_is_refused() {
    let ws = Workspace::new("clean-ancestors");
    ws.repo_scenario("swap-absent");
    let nobody = 65534;
    let theirs = ws.dir.join("theirs");
    fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(nobody), Some(nobody)).unwrap();
    let work = theirs.join("w");
    let dead_run = work.join("run-1-1");
    fs::create_dir_all(&dead_run).unwrap();
    fs::set_permissions(&work, fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(dead_run.join("run.lock"), "").unwrap();
    let mnt = dead_run.join("mnt");
    fs::create_dir(&mnt).unwrap();
    rustix::mount::mount("tmpfs", &mnt, "tmpfs", MountFlags::empty(), c"size=1m").unwrap();
    fs::write(mnt.join("precious"), "keep me").unwrap();

    let refused: Vec<_> = [("clean", &[][..]), ("run", &["--fs", "tmpfs"][..])]
        .into_iter()
        .map(|(subcommand, args)| run(ws.fsmatrix_in(&work, &[subcommand], args)))
        .collect();
    let still_mounted = ws.leaks().mounts.contains(&mnt);
    let precious = fs::read_to_string(mnt.join("precious"));
    if still_mounted {
        rustix::mount::unmount(&mnt, UnmountFlags::empty()).unwrap();
    }
    // The parent really is theirs to change: `nobody` can move the work directory away.
    let moved = Command::new("runuser")
        .args(["-u", "nobody", "--", "mv"])
        .arg(&work)
        .arg(theirs.join("w.real"))
        .status()
        .unwrap();
    for ran in &refused {
        assert_eq!(ran.code, 3, "{}", ran.all());
        assert!(
            ran.stderr.contains(&format!(
                "{}, which is owned by uid {nobody}",
                theirs.display()
            )) && ran.stderr.contains("chown root"),
            "{}",
            ran.stderr
        );
    }
    assert!(still_mounted, "clean unmounted a dead run it had to refuse");
    assert_eq!(precious.ok().as_deref(), Some("keep me"));
    assert!(moved.success(), "nobody could not move the work directory");

    // A directory its group may write to is refused too; a sticky one (like /tmp) is fine as
    // long as the next directory is root's, and refused where it is someone else's.
    let shared = ws.dir.join("shared");
    let sticky = ws.dir.join("sticky");
    for (dir, mode) in [(&shared, 0o775), (&sticky, 0o1777)] {
        fs::create_dir(dir).unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(mode)).unwrap();
    }
    let in_sticky_theirs = sticky.join("theirs");
    fs::create_dir(&in_sticky_theirs).unwrap();
    std::os::unix::fs::chown(&in_sticky_theirs, Some(nobody), Some(nobody)).unwrap();
    for (work, says) in [
        (
            shared.join("w"),
            format!("{}, which is writable by its group", shared.display()),
        ),
        (
            in_sticky_theirs.join("w"),
            format!(
                "{}, which is owned by uid {nobody}",
                in_sticky_theirs.display()
            ),
        ),
    ] {
        fs::create_dir(&work).unwrap();
        fs::set_permissions(&work, fs::Permissions::from_mode(0o700)).unwrap();
        let ran = run(ws.fsmatrix_in(&work, &["clean"], &[]));
        assert_eq!(ran.code, 3, "{}", ran.all());
        assert!(ran.stderr.contains(&says), "{says}: {}", ran.stderr);
    }
    let fine = sticky.join("w");
    let ran = run(ws.fsmatrix_in(&fine, &["run"], &["--fs", "tmpfs"]));
    assert_eq!(ran.code, 0, "{}", ran.all());
    ws.assert_no_leaks();
}
