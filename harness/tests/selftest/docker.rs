//! The Docker runner reports exactly as the host runner does and leaves no container, loop
//! device or mount behind, after success, failure and Ctrl-C.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rustix::process::Signal;

use std::os::unix::fs::PermissionsExt;

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

/// The containers of runs in `work` (other people's runs have their own), as `docker ps -a`
/// lists them.
fn containers_in(work: &Path) -> Vec<String> {
    let work = fs::canonicalize(work).unwrap();
    let out = Command::new("docker")
        .args(["ps", "-a", "-q", "--filter"])
        .arg(format!(
            "label=io.switchyard.fsmatrix.work-dir={}",
            work.display()
        ))
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

/// The containers of the runs now in `work`, by their run label: a run's container is found
/// even after its run directory is gone.
fn run_containers(work: &Path) -> impl Fn() -> Vec<String> {
    let runs: Vec<String> = fs::read_dir(work)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("run-"))
        .collect();
    assert_eq!(runs.len(), 1, "one run in {}: {runs:?}", work.display());
    move || {
        let out = Command::new("docker")
            .args(["ps", "-a", "-q", "--filter"])
            .arg(format!("label=io.switchyard.fsmatrix.run={}", runs[0]))
            .output()
            .expect("the docker client runs (install the Debian package docker.io)");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Cleans the workspace's work directory once its runs are over: the runner images they noted
/// are removed with them (each test's scenarios make an image of their own).
fn release_images(ws: &Workspace) {
    let mut images = noted_images(&ws.work);
    images.sort();
    images.dedup();
    assert!(!images.is_empty(), "no run noted a runner image");
    let cleaned = run(ws.fsmatrix(&["clean"], &[]));
    assert_eq!(cleaned.code, 0, "{}", cleaned.all());
    for image in &images {
        assert!(!image_exists(image), "{image} kept: {}", cleaned.all());
    }
}

/// The runner image each run of `work` noted, one per run.
fn noted_images(work: &Path) -> Vec<String> {
    fs::read_dir(work.join("runner-images"))
        .unwrap()
        .flatten()
        .map(|note| fs::read_to_string(note.path()).unwrap())
        .collect()
}

/// The runner image the one run noted in `work`.
fn noted_image(work: &Path) -> String {
    let notes = noted_images(work);
    assert_eq!(notes.len(), 1, "{notes:?}");
    notes[0].clone()
}

fn image_exists(tag: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", tag])
        .output()
        .expect("the docker client runs (install the Debian package docker.io)")
        .status
        .success()
}

/// Every image the engine holds, tagged or not, by id.
fn all_images() -> Vec<String> {
    let out = Command::new("docker")
        .args(["image", "ls", "--all", "--quiet", "--no-trunc"])
        .output()
        .expect("the docker client runs (install the Debian package docker.io)");
    assert!(out.status.success(), "{out:?}");
    let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids
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
        containers_in(&ws.work).is_empty(),
        "a container was left: {:?}",
        containers_in(&ws.work)
    );
    ws.assert_no_leaks();
    release_images(&ws);
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
        containers_in(&ws.work).is_empty(),
        "a container was left: {:?}",
        containers_in(&ws.work)
    );
    assert!(
        container_loop_devices().is_empty(),
        "{:?}",
        container_loop_devices()
    );
    ws.assert_no_leaks();
    release_images(&ws);
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
    // `image build` makes an image for the user to keep; the test removes its own.
    let tag = second
        .stdout
        .split_whitespace()
        .find(|word| word.starts_with("switchyard-fsmatrix:"))
        .unwrap_or_else(|| panic!("no image named: {}", second.stdout));
    let removed = Command::new("docker").args(["rmi", tag]).output().unwrap();
    assert!(removed.status.success(), "{removed:?}");
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
    let running = containers_in(&ws.work);
    signal(&child, Signal::INT);
    let ran = finish(child);
    assert_eq!(
        running.len(),
        1,
        "expected the run's container: {running:?}"
    );
    assert_eq!(ran.code, 130, "{}", ran.all());
    assert!(
        containers_in(&ws.work).is_empty(),
        "a container was left: {:?}",
        containers_in(&ws.work)
    );
    wait_until(
        Duration::from_secs(10),
        "the container's processes to end",
        || !sleeps_alive(615),
    );
    ws.assert_no_leaks();
    release_images(&ws);
}

/// Proves: REQ-M5
#[test]
fn clean_removes_only_the_containers_of_dead_runs_of_its_work_directory() {
    let _turn = turn();
    let images_before = all_images();
    let ws = Workspace::new("docker-clean");
    ws.scenario("slow-live", &slow_scenario(616))
        .scenario("slow-dead", &slow_scenario(617));
    let (live_work, other_work) = (ws.dir.join("live"), ws.dir.join("other"));
    for dir in [&live_work, &other_work] {
        fs::create_dir(dir).unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
    }
    let docker_run = ["--fs", "ext4", "--runner", "docker", "--"];
    let live = spawn(ws.fsmatrix_in(
        &live_work,
        &["run"],
        &[&docker_run[..], &["slow-live"]].concat(),
    ));
    let mut dead = spawn(ws.fsmatrix(&["run"], &[&docker_run[..], &["slow-dead"]].concat()));
    wait_until(
        Duration::from_secs(300),
        "both runs to start their trial in a container",
        || sleeps_alive(616) && sleeps_alive(617),
    );
    // Killed outright, the run leaves its container running.
    dead.kill().unwrap();
    dead.wait().unwrap();
    let (live_of, dead_of) = (run_containers(&live_work), run_containers(&ws.work));
    let image = noted_image(&ws.work);
    assert_eq!(noted_image(&live_work), image);
    let (live_container, dead_container) = (live_of(), dead_of());
    assert_eq!(live_container.len(), 1, "{live_container:?}");
    assert_eq!(dead_container.len(), 1, "{dead_container:?}");

    // Another work directory's clean touches neither; the live run's own clean leaves it alone.
    let elsewhere = run(ws.fsmatrix_in(&other_work, &["clean"], &[]));
    let beside_live = run(ws.fsmatrix_in(&live_work, &["clean"], &[]));
    let after_others = (live_of(), dead_of());
    // The dead run's clean removes its container, and only that.
    let own = run(ws.fsmatrix(&["clean"], &[]));
    let after_own = (live_of(), dead_of());
    let live_still_checking = sleeps_alive(616);
    let image_kept = image_exists(&image);
    signal(&live, Signal::INT);
    let live = finish(live);

    assert_eq!(elsewhere.code, 0, "{}", elsewhere.all());
    assert_eq!(beside_live.code, 0, "{}", beside_live.all());
    assert_eq!(
        after_others,
        (live_container.clone(), dead_container.clone()),
        "{}{}",
        elsewhere.all(),
        beside_live.all()
    );
    assert!(
        beside_live.stdout.contains("alone: its run"),
        "{}",
        beside_live.stdout
    );
    assert_eq!(own.code, 0, "{}", own.all());
    assert_eq!(after_own, (live_container, Vec::new()), "{}", own.all());
    assert!(live_still_checking, "clean stopped a live run's trial");
    assert_eq!(live.code, 130, "{}", live.all());
    assert!(live_of().is_empty());
    assert!(
        image_kept,
        "clean removed the image of a live run's container"
    );
    // Once the last run that used it is over, its work directory's clean removes the image.
    let last = run(ws.fsmatrix_in(&live_work, &["clean"], &[]));
    assert_eq!(last.code, 0, "{}", last.all());
    assert!(!image_exists(&image), "{}", last.all());
    // Two runs that start together build the image once: no untagged copy is left behind.
    assert_eq!(all_images(), images_before, "{}", last.all());
    wait_until(
        Duration::from_secs(10),
        "the containers' processes to end",
        || !sleeps_alive(616) && !sleeps_alive(617),
    );
    ws.assert_no_leaks();
}

/// `clean` removes the containers of the runs it found dead, and no other: a container whose
/// run it did not see (one that started after it looked, whose directory it could not have
/// surveyed) stays, whatever its state.
/// Proves: REQ-M5
#[test]
fn clean_removes_no_container_of_a_run_it_did_not_find_dead() {
    let _turn = turn();
    let ws = Workspace::new("docker-clean-unsurveyed");
    let dead = "run-1-1";
    fs::create_dir(ws.work.join(dead)).unwrap();
    fs::write(ws.work.join(dead).join("run.lock"), "").unwrap();
    let work = fs::canonicalize(&ws.work).unwrap();
    // Containers as the runs would have left them: labelled, never started.
    let create = |run: &str| {
        let out = Command::new("docker")
            .args(["create", "--label", "io.switchyard.fsmatrix=1", "--label"])
            .arg(format!("io.switchyard.fsmatrix.run={run}"))
            .arg("--label")
            .arg(format!(
                "io.switchyard.fsmatrix.work-dir={}",
                work.display()
            ))
            .args([switchyard_harness::docker::BOOTSTRAP_BASE, "true"])
            .output()
            .expect("the docker client runs (install the Debian package docker.io)");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let of_dead = create(dead);
    let unseen = create("run-2-2");

    let ran = run(ws.fsmatrix(&["clean"], &[]));
    let left = containers_in(&ws.work);
    let _ = Command::new("docker")
        .args(["rm", "-f", &of_dead, &unseen])
        .output();
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(
        left.iter().all(|id| !of_dead.starts_with(id.as_str())),
        "the dead run's container stayed: {}",
        ran.all()
    );
    assert!(
        left.len() == 1 && unseen.starts_with(left[0].as_str()),
        "a container of a run clean did not find dead was removed: {}",
        ran.all()
    );
    assert!(
        ran.stdout
            .contains("alone: its run run-2-2 is not a dead run of this work directory"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains(&format!("removed {}", work.join(dead).display()))
    );
}
