//! The Docker runner reports exactly as the host runner does and leaves no container, loop
//! device or mount behind, after success, failure and Ctrl-C.

use std::fs;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rustix::process::Signal;

use crate::support::{
    Workspace, finish, run, signal, sleeps_alive, slow_scenario, spawn, wait_until,
};

/// The engine and its container list are shared: these tests take turns.
static ENGINE: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    ENGINE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Our containers, as `docker ps -a` lists them.
fn our_containers() -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "-q",
            "--filter",
            "label=io.switchyard.fsmatrix=1",
        ])
        .output()
        .expect("the docker client runs (install the Debian package docker.io)");
    assert!(
        out.status.success(),
        "docker ps failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Loop devices attached by a container run: their backing files are under its `/out`.
fn container_loop_devices() -> Vec<String> {
    let out = Command::new("losetup")
        .args(["--list", "--noheadings", "--output", "NAME,BACK-FILE"])
        .output()
        .expect("losetup runs (install the Debian package util-linux)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|f| f.starts_with("/out/"))
        })
        .map(str::to_owned)
        .collect()
}

/// The diff lines of a report (indented under a FAIL line).
fn diff_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("    ") && !l.trim().is_empty())
        .collect()
}

/// Proves: REQ-M4, REQ-CI3
#[test]
fn a_golden_mismatch_in_the_container_fails_with_the_host_runners_diff() {
    let _turn = turn();
    let ws = Workspace::new("docker-golden-mismatch");
    ws.repo_scenario("swap-symlink");
    let golden = ws.golden_file("swap-symlink");
    let text = fs::read_to_string(&golden).unwrap();
    fs::write(
        &golden,
        text.replacen("\"dest\":\"ls\"", "\"dest\":\"lz\"", 1),
    )
    .unwrap();

    let host = run(ws.fsmatrix(&["run"], &["--fs", "ext4"]));
    let docker = run(ws.fsmatrix(&["run"], &["--fs", "ext4", "--runner", "docker"]));
    assert_eq!(host.code, 1, "{}", host.all());
    assert_eq!(docker.code, 1, "{}", docker.all());
    // The golden path differs (it is inside the image); the diff body is the same.
    let body = |s: &str| -> Vec<String> {
        diff_lines(s)
            .into_iter()
            .filter(|l| !l.trim_start().starts_with("---"))
            .map(str::to_owned)
            .collect()
    };
    assert!(!body(&host.stdout).is_empty(), "{}", host.stdout);
    assert_eq!(
        body(&docker.stdout),
        body(&host.stdout),
        "{}",
        docker.stdout
    );
    assert!(
        docker.stdout.contains("0 passed, 1 failed, 0 skipped"),
        "{}",
        docker.stdout
    );
    assert!(
        our_containers().is_empty(),
        "a container was left: {:?}",
        our_containers()
    );
    ws.assert_no_leaks();
}

/// Proves: REQ-M4, REQ-M2
#[test]
fn a_passing_run_in_the_container_reports_like_the_host_and_leaves_nothing() {
    let _turn = turn();
    let ws = Workspace::new("docker-pass");
    ws.repo_scenario("swap-absent")
        .repo_scenario("setuid-xattr-owner");
    let junit = ws.dir.join("junit.xml");
    let ran = run(ws.fsmatrix(
        &["run"],
        &[
            "--fs",
            "ext4,xfs",
            "--runner",
            "docker",
            "--junit",
            junit.to_str().unwrap(),
        ],
    ));
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(
        ran.stdout.contains("4 passed, 0 failed, 0 skipped"),
        "{}",
        ran.stdout
    );
    let xml = fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase").count(), 4, "{xml}");
    assert!(
        our_containers().is_empty(),
        "a container was left: {:?}",
        our_containers()
    );
    assert!(
        container_loop_devices().is_empty(),
        "{:?}",
        container_loop_devices()
    );
    ws.assert_no_leaks();
}

/// Proves: REQ-M4
#[test]
fn the_cached_image_is_reused_without_a_rebuild() {
    let _turn = turn();
    let ws = Workspace::new("docker-cache");
    ws.repo_scenario("swap-absent");
    let first = run(ws.fsmatrix(&["image", "build"], &[]));
    assert_eq!(first.code, 0, "{}", first.all());
    let second = run(ws.fsmatrix(&["image", "build"], &[]));
    assert_eq!(second.code, 0, "{}", second.all());
    assert!(
        second.stdout.contains("cached, no rebuild"),
        "{}",
        second.stdout
    );
    assert!(!second.stdout.contains("Step 1/"), "{}", second.stdout);
}

/// Proves: REQ-M2
#[test]
fn ctrl_c_mid_run_removes_the_container_and_every_loop_device_and_mount() {
    let _turn = turn();
    let ws = Workspace::new("docker-sigint");
    ws.scenario("slow", &slow_scenario(615));
    let child = spawn(ws.fsmatrix(&["run"], &["--fs", "ext4", "--runner", "docker"]));
    wait_until(
        Duration::from_secs(120),
        "the trial to start in the container",
        || sleeps_alive(615),
    );
    let running = our_containers();
    signal(&child, Signal::INT);
    let ran = finish(child);
    assert_eq!(
        running.len(),
        1,
        "expected the run's container: {running:?}"
    );
    assert_eq!(ran.code, 130, "{}", ran.all());
    assert!(
        our_containers().is_empty(),
        "a container was left: {:?}",
        our_containers()
    );
    wait_until(
        Duration::from_secs(10),
        "the container's processes to end",
        || !sleeps_alive(615),
    );
    ws.assert_no_leaks();
}
