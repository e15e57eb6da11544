//! SIGINT or SIGTERM mid-run releases everything, recorded disks (FUSE mounts) included; after
//! SIGKILL, `fsmatrix clean` does.

use std::time::Duration;

use rustix::process::Signal;
use switchyard_harness::fixture;

use crate::support::{
    Workspace, finish, run, signal, sleeps, sleeps_alive, slow_recorded_scenario, slow_scenario,
    spawn, wait_until,
};

/// Proves: REQ-M2
#[test]
fn sigint_mid_run_releases_every_mount_and_loop_device() {
    let ws = Workspace::new("sigint");
    ws.scenario("slow", &slow_scenario(612));
    let child = spawn(ws.fsmatrix(&["run"], &["--fs", "ext4,xfs", "--jobs", "2"]));
    wait_until(
        Duration::from_secs(60),
        "the trials to mount their filesystems",
        || ws.leaks().mounts.len() >= 2 && sleeps_alive(612),
    );
    signal(&child, Signal::INT);
    let ran = finish(child);
    assert_eq!(ran.code, 130, "{}", ran.all());
    assert!(ran.stdout.contains("[not-run]"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("0 passed, 2 failed, 0 skipped"),
        "{}",
        ran.stdout
    );
    ws.assert_no_leaks();
    assert!(!sleeps_alive(612), "a trial's process outlived the run");
}

/// Proves: REQ-M2
#[test]
fn after_sigkill_clean_reclaims_every_mount_and_loop_device() {
    let ws = Workspace::new("sigkill");
    ws.scenario("slow", &slow_scenario(614));
    let mut child = spawn(ws.fsmatrix(&["run"], &["--fs", "ext4,xfs", "--jobs", "2"]));
    wait_until(
        Duration::from_secs(60),
        "the trials to mount their filesystems",
        || ws.leaks().mounts.len() >= 2 && sleeps_alive(614),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // The trial children die with their parent; their mounts, and the health checks they
    // started, stay behind for `clean`.
    std::thread::sleep(Duration::from_millis(500));
    let left = ws.leaks();
    assert!(
        !left.mounts.is_empty(),
        "nothing was left to clean; the test proves nothing"
    );

    let ran = run(ws.fsmatrix(&["clean"], &[]));
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(ran.stdout.contains("removed "), "{}", ran.stdout);
    ws.assert_no_leaks();
    wait_until(
        Duration::from_secs(5),
        "the orphaned health checks to be killed",
        || !sleeps_alive(614),
    );
    let runs: Vec<_> = std::fs::read_dir(&ws.work).unwrap().collect();
    assert!(runs.is_empty(), "clean left run directories: {runs:?}");
}

/// Recorded trials add a FUSE mount under each filesystem's loop device; SIGINT mid-recording
/// releases them with the rest.
#[test]
fn sigint_mid_recording_releases_the_recorded_disks() {
    signal_mid_recording_releases_the_recorded_disks("sigint-recorded", Signal::INT, 623);
}

/// The same for SIGTERM, which a service manager or `timeout` sends.
#[test]
fn sigterm_mid_recording_releases_the_recorded_disks() {
    signal_mid_recording_releases_the_recorded_disks("sigterm-recorded", Signal::TERM, 624);
}

/// Sends `sig` to a run of two recorded trials once both are recording (their health checks
/// `sleep MARKER`), and checks it exits 130 having released everything. The leak check is shown
/// to see the FUSE mounts first, so its passing afterwards means they are gone.
fn signal_mid_recording_releases_the_recorded_disks(name: &str, sig: Signal, marker: u32) {
    let ws = Workspace::new(name);
    ws.scenario("slow", &slow_recorded_scenario(marker));
    let child = spawn(ws.fsmatrix(&["run"], &["--fs", "ext4,xfs", "--jobs", "2"]));
    // Two trials mid-recording (their health checks run inside the recorded apply), each with
    // its FUSE mount and its filesystem on top.
    wait_until(
        Duration::from_secs(60),
        "the trials to record on their disks",
        || fixture::fuse_mounts_under(&ws.dir).unwrap().len() >= 2 && sleeps(marker).len() >= 2,
    );
    let fuse = fixture::fuse_mounts_under(&ws.dir).unwrap();
    let seen = ws.leaks().mounts;
    // Asserted after the run ended, so that a failure does not leave it running.
    signal(&child, sig);
    let ran = finish(child);
    assert!(
        seen.len() >= 4 && fuse.iter().all(|m| seen.contains(m)),
        "the leak check misses FUSE mounts: {fuse:?} not all in {seen:?}"
    );
    assert_eq!(ran.code, 130, "{}", ran.all());
    ws.assert_no_leaks();
    assert!(!sleeps_alive(marker), "a trial's process outlived the run");
}

/// After SIGKILL the recorded disks' server is gone with its trial; `clean` aborts their FUSE
/// connections and reclaims the mounts and loop devices on them.
#[test]
fn after_sigkill_clean_reclaims_the_recorded_disks() {
    let ws = Workspace::new("sigkill-recorded");
    ws.scenario("slow", &slow_recorded_scenario(618));
    let mut child = spawn(ws.fsmatrix(&["run"], &["--fs", "ext4,xfs", "--jobs", "2"]));
    wait_until(
        Duration::from_secs(60),
        "the trials to mount their recorded disks",
        || ws.leaks().mounts.len() >= 4 && sleeps_alive(618),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let left = ws.leaks();
    assert!(
        !left.mounts.is_empty(),
        "nothing was left to clean; the test proves nothing"
    );

    let ran = run(ws.fsmatrix(&["clean"], &[]));
    assert_eq!(ran.code, 0, "{}", ran.all());
    ws.assert_no_leaks();
    wait_until(
        Duration::from_secs(5),
        "the orphaned health checks to be killed",
        || !sleeps_alive(618),
    );
}
