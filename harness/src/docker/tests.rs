//! Tests against the real Docker engine; an unreachable engine fails them with the how-to message.
//!
//! The runner image here is built around a stand-in `fsmatrix`: a shell script that prints its
//! arguments, makes loop nodes with mknod, attaches, formats and mounts an image the way the real
//! harness does, and exits with a chosen code. Tests that use the engine take one lock, because
//! the sweep test removes every labelled container. Each test's scratch directory is removed at
//! the start of the next run, not at the end, so a failure can be inspected.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::*;
use crate::signal::Cancel;

const STAND_IN: &str = r#"#!/bin/sh
# Stand-in for fsmatrix: proves the container's privilege set is enough for loop mounts.
set -eu
echo "stand-in fsmatrix: $*"
mode=$1 run=$2
img="/tmp/switchyard-selftest-$run.img"
for i in $(seq 0 63); do
    [ -e "/dev/loop$i" ] || mknod "/dev/loop$i" b 7 "$i"
done
truncate -s 64M "$img"
mkfs.ext4 -q -F "$img"
dev=$(losetup -f --show "$img")
mkdir -p /mnt/trial
mount -t ext4 "$dev" /mnt/trial
echo "mounted ext4 from $img"
case "$mode" in
run)
    echo payload > /mnt/trial/file
    cat /mnt/trial/file
    umount /mnt/trial
    losetup -d "$dev"
    echo "to stderr" >&2
    echo "report of $run" > /out/report.txt
    ls /opt/fsmatrix/scenarios /opt/fsmatrix/golden
    exit "$3"
    ;;
hold)
    teardown() {
        umount /mnt/trial
        losetup -d "$dev"
        echo "torn down"
        exit 143
    }
    trap teardown TERM INT
    echo ready
    sleep 600 &
    wait $!
    ;;
esac
"#;

/// Serialises the tests that talk to the engine.
fn engine_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn connect() -> Docker {
    match Docker::connect() {
        Ok(docker) => docker,
        Err(e) => panic!("{e}"),
    }
}

/// A fresh scratch directory for one test, emptied at the start of the run.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("switchyard-docker-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn write(path: &Path, data: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("parent directory");
    std::fs::write(path, data).expect("write input");
}

/// Inputs for the stand-in image, with fixed content so its tag is stable between runs.
fn stand_in_inputs(dir: &Path) -> BuildInputs {
    write(&dir.join("fsmatrix"), STAND_IN);
    write(
        &dir.join("scenarios/file-to-symlink.yaml"),
        "description: stand-in\nsteps: []\n",
    );
    write(&dir.join("golden/file-to-symlink.jsonl"), "{}\n");
    BuildInputs::new(
        dir.join("fsmatrix"),
        dir.join("scenarios"),
        dir.join("golden"),
    )
}

/// Makes sure a base image exists, bootstrapping one when it is missing. A failure is kept, so
/// every test that needs the base fails with it instead of bootstrapping again.
fn ensure_base(docker: &Docker) {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let done = DONE.get_or_init(|| {
        let started = Instant::now();
        let outcome = docker
            .bootstrap_base(&BootstrapOptions::default(), &mut |line| {
                eprintln!("bootstrap: {line}")
            })
            .map_err(|e| e.to_string())?;
        eprintln!("bootstrap: {outcome:?} in {:?}", started.elapsed());
        Ok(())
    });
    if let Err(e) = done {
        panic!("{e}");
    }
}

/// The stand-in runner image, built at most once per content.
fn stand_in_image(docker: &Docker) -> RunnerImage {
    static IMAGE: OnceLock<Result<RunnerImage, String>> = OnceLock::new();
    let image = IMAGE.get_or_init(|| {
        ensure_base(docker);
        let dir = scratch("stand-in-context");
        let started = Instant::now();
        let image = docker
            .ensure_runner_image(&stand_in_inputs(&dir), &mut |line| {
                eprintln!("build: {line}")
            })
            .map_err(|e| e.to_string())?;
        eprintln!(
            "build: {} reused={} in {:?}",
            image.tag,
            image.reused,
            started.elapsed()
        );
        Ok(image)
    });
    image.clone().unwrap_or_else(|e| panic!("{e}"))
}

fn run_id(test: &str) -> String {
    format!("{test}-{}", std::process::id())
}

/// Containers of one run still known to the engine (through the API, as `docker ps -a` would).
fn containers_of(docker: &Docker, run: &str) -> Vec<RemovedContainer> {
    let (rt, api) = docker.parts();
    rt.block_on(clean::list_ours(api, run))
        .expect("list containers")
}

/// Host loop devices whose backing file is the stand-in's image for `run`.
fn loop_devices_of(run: &str) -> Vec<String> {
    let needle = format!("switchyard-selftest-{run}.img");
    let Ok(blocks) = std::fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    blocks
        .filter_map(Result::ok)
        .filter(|b| {
            std::fs::read_to_string(b.path().join("loop/backing_file"))
                .is_ok_and(|backing| backing.contains(&needle))
        })
        .map(|b| b.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn context_tar_is_deterministic_and_content_addressed() {
    let dir = scratch("context");
    let inputs = stand_in_inputs(&dir);
    let first = BuildContext::from_inputs(&inputs).expect("context");
    let again = BuildContext::from_inputs(&inputs).expect("context");
    assert_eq!(first.as_bytes(), again.as_bytes());

    // Times, modes and creation order do not reach the hash.
    let golden = dir.join("golden/file-to-symlink.jsonl");
    std::fs::remove_file(&golden).expect("remove");
    write(&golden, "{}\n");
    std::fs::set_permissions(&golden, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    write(&dir.join("scenarios/a-second.yaml"), "steps: []\n");
    std::fs::remove_file(dir.join("scenarios/a-second.yaml")).expect("remove");
    assert_eq!(
        BuildContext::from_inputs(&inputs)
            .expect("context")
            .sha256(),
        first.sha256()
    );

    // One changed byte changes the tag.
    write(&golden, "{}\t");
    let changed = BuildContext::from_inputs(&inputs).expect("context");
    assert_ne!(changed.sha256(), first.sha256());

    let tag = first.tag();
    let hash = tag.strip_prefix("switchyard-fsmatrix:").expect("repo");
    assert_eq!(hash.len(), 16);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(first.sha256().starts_with(hash));

    // The entries come out sorted, owned by root, with normalised modes and no mtime.
    let mut archive = tar::Archive::new(first.as_bytes());
    let mut names = Vec::new();
    for entry in archive.entries().expect("entries") {
        let entry = entry.expect("entry");
        let header = entry.header();
        assert_eq!(header.mtime().expect("mtime"), 0);
        assert_eq!(header.uid().expect("uid"), 0);
        let name = entry.path().expect("path").to_string_lossy().into_owned();
        let mode = header.mode().expect("mode");
        let expected = if name == "fsmatrix" || name.ends_with('/') {
            0o755
        } else {
            0o644
        };
        assert_eq!(mode, expected, "{name}");
        names.push(name);
    }
    assert_eq!(
        names,
        [
            "Dockerfile",
            "fsmatrix",
            "golden/",
            "golden/file-to-symlink.jsonl",
            "scenarios/",
            "scenarios/file-to-symlink.yaml",
        ]
    );
}

#[test]
fn missing_build_input_names_the_path() {
    let dir = scratch("missing-input");
    let inputs = BuildInputs::new(dir.join("no-such-binary"), dir.clone(), dir.clone());
    let err = BuildContext::from_inputs(&inputs).expect_err("missing binary");
    assert!(err.to_string().contains("no-such-binary"), "{err}");
}

#[test]
fn unreachable_engine_names_the_socket_and_the_fix() {
    let err = Docker::connect_to("unix:///nonexistent/switchyard-test/docker.sock")
        .expect_err("no engine there");
    let message = err.to_string();
    assert!(matches!(err, DockerError::Unreachable { .. }), "{message}");
    assert!(
        message.contains("/nonexistent/switchyard-test/docker.sock"),
        "{message}"
    );
    assert!(message.contains("systemctl start docker"), "{message}");
    assert!(message.contains("dockerd &"), "{message}");
}

#[test]
fn missing_debootstrap_names_the_package() {
    let dir = scratch("no-debootstrap");
    let err = bootstrap::locate_debootstrap(&[dir]).expect_err("not installed there");
    assert!(err.to_string().contains("package `debootstrap`"), "{err}");
}

#[test]
fn missing_base_tells_to_bootstrap() {
    let err = DockerError::NoBaseImage {
        official: OFFICIAL_BASE,
        bootstrapped: BOOTSTRAP_BASE,
    };
    assert!(
        err.to_string().contains("fsmatrix image bootstrap"),
        "{err}"
    );
}

#[test]
fn engine_api_version_is_negotiated() {
    let _lock = engine_lock();
    let docker = connect();
    let (rt, api) = docker.parts();
    let engine = rt.block_on(api.version()).expect("version");
    let engine_api = engine.api_version.expect("engine api version");
    let parse = |v: &str| -> (u32, u32) {
        let (major, minor) = v.split_once('.').expect("major.minor");
        (major.parse().expect("major"), minor.parse().expect("minor"))
    };
    let client_default = bollard::API_DEFAULT_VERSION.to_string();
    let expected = parse(&engine_api).min(parse(&client_default));
    assert_eq!(parse(docker.api_version()), expected);
    eprintln!(
        "engine {} (api {engine_api}); client speaks {}",
        docker.engine_version(),
        docker.api_version()
    );
}

#[test]
fn run_streams_output_returns_exit_code_and_leaves_nothing() {
    let _lock = engine_lock();
    let docker = connect();
    let image = stand_in_image(&docker);

    // A second look at the same content reuses the image.
    let dir = scratch("stand-in-context-again");
    let started = Instant::now();
    let mut lines = Vec::new();
    let again = docker
        .ensure_runner_image(&stand_in_inputs(&dir), &mut |line| {
            lines.push(line.to_owned())
        })
        .expect("cached image");
    eprintln!("cached check: {:?}", started.elapsed());
    assert!(again.reused);
    assert_eq!(again.tag, image.tag);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("is up to date (cached, no rebuild")),
        "{lines:?}"
    );

    let run = run_id("run");
    let out = scratch("run-out");
    let spec = RunSpec::new(
        &run,
        &out,
        vec!["run".to_owned(), run.clone(), "7".to_owned()],
        &out,
    );
    let mut output = Vec::new();
    let mut first_output = None;
    let started = Instant::now();
    let code = docker
        .run(&image, &spec, &Cancel::default(), &mut |chunk| {
            first_output.get_or_insert_with(|| started.elapsed());
            output.extend_from_slice(chunk)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "container: first output after {:?}, done in {:?}",
        first_output.unwrap_or_default(),
        started.elapsed()
    );
    let text = String::from_utf8_lossy(&output);
    assert_eq!(code, 7, "{text}");
    assert!(
        text.contains(&format!("stand-in fsmatrix: run {run} 7")),
        "{text}"
    );
    assert!(text.contains("mounted ext4 from"), "{text}");
    assert!(text.contains("payload"), "{text}");
    assert!(text.contains("to stderr"), "{text}");
    assert!(text.contains("file-to-symlink.yaml"), "{text}");
    assert!(text.contains("file-to-symlink.jsonl"), "{text}");
    assert_eq!(
        std::fs::read_to_string(out.join("report.txt")).expect("report in /out"),
        format!("report of {run}\n")
    );
    assert_eq!(containers_of(&docker, &run), []);
    assert_eq!(loop_devices_of(&run), Vec::<String>::new());
}

#[test]
fn cancel_mid_run_tears_down_and_removes_the_container() {
    let _lock = engine_lock();
    let docker = connect();
    let image = stand_in_image(&docker);
    let run = run_id("cancel");
    let out = scratch("cancel-out");
    let spec = RunSpec::new(&run, &out, vec!["hold".to_owned(), run.clone()], &out);
    let cancel = Cancel::default();
    let mut output = Vec::new();
    let started = Instant::now();
    let result = docker.run(&image, &spec, &cancel, &mut |chunk| {
        output.extend_from_slice(chunk);
        // Cancel as soon as the inner run holds a mount and a loop device.
        if String::from_utf8_lossy(&output).contains("ready") {
            cancel.cancel();
        }
    });
    let text = String::from_utf8_lossy(&output);
    match result {
        Err(DockerError::Cancelled { run_id, .. }) => assert_eq!(run_id, run),
        other => panic!("expected a cancelled run, got {other:?}\n{text}"),
    }
    assert!(text.contains("torn down"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(containers_of(&docker, &run), []);
    assert_eq!(loop_devices_of(&run), Vec::<String>::new());
}

#[test]
fn panic_in_output_callback_still_tears_down_and_removes_the_container() {
    let _lock = engine_lock();
    let docker = connect();
    let image = stand_in_image(&docker);
    let run = run_id("panic");
    let out = scratch("panic-out");
    let spec = RunSpec::new(&run, &out, vec!["hold".to_owned(), run.clone()], &out);
    let mut output = Vec::new();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        docker.run(&image, &spec, &Cancel::default(), &mut |chunk| {
            output.extend_from_slice(chunk);
            if String::from_utf8_lossy(&output).contains("ready") {
                panic!("callback failure while the run holds a mount");
            }
        })
    }));
    assert!(caught.is_err());
    // The facade stays usable after the panic; the container is gone, and the inner run had its
    // grace period to unmount and detach.
    assert_eq!(containers_of(&docker, &run), []);
    assert_eq!(loop_devices_of(&run), Vec::<String>::new());
}

#[test]
fn failing_build_step_is_a_typed_error_with_the_message() {
    let _lock = engine_lock();
    let docker = connect();
    ensure_base(&docker);
    let dir = scratch("failing-build");
    let inputs = stand_in_inputs(&dir).with_dockerfile(format!(
        "ARG BASE\nFROM ${{BASE}}\nRUN echo failing step {}; exit 3\n",
        std::process::id()
    ));
    let mut lines = Vec::new();
    let err = docker
        .ensure_runner_image(&inputs, &mut |line| lines.push(line.to_owned()))
        .expect_err("the build fails");
    match &err {
        DockerError::Build { message, .. } => {
            assert!(message.contains("non-zero code: 3"), "{message}")
        }
        other => panic!("expected a build error, got {other:?}"),
    }
    assert!(
        lines.iter().any(|l| l.starts_with("failing step")),
        "{lines:?}"
    );
}

#[test]
fn clean_removes_the_leftovers_of_dead_runs_of_its_work_directory_only() {
    let _lock = engine_lock();
    let docker = connect();
    let image = stand_in_image(&docker);
    let work = scratch("leftover-work");
    let (dead, alive) = (run_id("leftover-dead"), run_id("leftover-alive"));
    let elsewhere = run_id("leftover-elsewhere");
    // Containers as runs would leave them: created, labelled, never removed.
    let (rt, api) = docker.parts();
    let create = |run: &str, work_dir: &Path| {
        let spec = RunSpec::new(run, work_dir, vec!["run".to_owned(), run.to_owned()], &work);
        let config = container::container_config(&image, &spec, &work, false);
        rt.block_on(api.create_container(None, config))
            .expect("create")
            .id
    };
    let dead_id = create(&dead, &work);
    create(&alive, &work);
    create(&elsewhere, &work.join("another-work-dir"));

    let opts = CleanOptions {
        work_dir: work.clone(),
        dead_runs: vec![dead.clone()],
        images: Vec::new(),
    };
    let report = docker.clean(&opts).expect("clean");
    assert!(
        report
            .containers
            .iter()
            .all(|c| c.run_id == dead && dead_id.starts_with(&c.id)),
        "{report}"
    );
    assert_eq!(containers_of(&docker, &dead), []);
    assert_eq!(containers_of(&docker, &alive).len(), 1, "{report}");
    assert_eq!(containers_of(&docker, &elsewhere).len(), 1, "{report}");
    assert_eq!(docker.clean(&opts).expect("clean").containers, []);

    // Once that run is found dead too, its container goes; the other work directory's stays.
    let over = CleanOptions {
        dead_runs: vec![dead.clone(), alive.clone()],
        ..opts
    };
    assert_eq!(docker.clean(&over).expect("clean").containers.len(), 1);
    assert_eq!(containers_of(&docker, &alive), []);
    let elsewhere_dir = CleanOptions {
        work_dir: work.join("another-work-dir"),
        dead_runs: vec![elsewhere.clone()],
        ..over
    };
    assert_eq!(
        docker
            .clean(&elsewhere_dir)
            .expect("clean")
            .containers
            .len(),
        1
    );
    assert_eq!(containers_of(&docker, &elsewhere), []);
}

#[test]
fn failed_bootstrap_is_an_error_and_removes_its_work_directory() {
    let _lock = engine_lock();
    let docker = connect();
    ensure_base(&docker);
    let workdir = scratch("failed-bootstrap");
    let opts = BootstrapOptions {
        // Nothing listens there, so debootstrap fails at once; the existing base stays.
        mirror: "http://127.0.0.1:9/debian".to_owned(),
        force: true,
        workdir: workdir.clone(),
    };
    let mut lines = Vec::new();
    let err = docker
        .bootstrap_base(&opts, &mut |line| lines.push(line.to_owned()))
        .expect_err("no mirror there");
    assert!(matches!(err, DockerError::Debootstrap { .. }), "{err}");
    assert!(
        lines.iter().any(|l| l.contains("rebuilding as asked")),
        "{lines:?}"
    );
    let left: Vec<_> = std::fs::read_dir(&workdir)
        .expect("workdir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(left, Vec::<PathBuf>::new());

    // Without force, an existing base is reported and kept.
    let mut lines = Vec::new();
    let outcome = docker
        .bootstrap_base(
            &BootstrapOptions {
                force: false,
                ..opts
            },
            &mut |line| lines.push(line.to_owned()),
        )
        .expect("existing base");
    assert!(matches!(outcome, BootstrapOutcome::AlreadyPresent { .. }));
    assert!(
        lines.iter().any(|l| l.contains("already exists")),
        "{lines:?}"
    );
}
