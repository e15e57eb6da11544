//! The cost of certifying, each beside a baseline measured in the same run (never asserted):
//!
//! 1. The full matrix on the host runner, one trial at a time, against the summed raw cost of the
//!    same filesystems: create (sparse image, mkfs, loop attach, mount) and release (umount,
//!    detach, delete) of every fixture the matrix's trials use, and nothing else.
//! 2. The same matrix at `--jobs` = the machine's CPUs, against (1): how near to linear the
//!    speed-up is.
//! 3. The same matrix through the Docker runner, with its image already cached, against the host
//!    runner's time from (1).
//! 4. Recorded crash states per second on each block filesystem: the recorded scenarios with every
//!    state (`FSMATRIX_CRASH_STATES=all`), states checked over the time spent on them (serve,
//!    mount with recovery, check, roll back, unmount), and the whole trials' time beside it.
//!
//! Needs root and a Docker engine (`scripts/test` sets both up).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use switchyard_harness::fixture::Filesystem;
use switchyard_harness::fs_kind::FsKind;
use switchyard_harness::matrix::{self, NameFilter};
use switchyard_harness::report::json::JsonReport;
use switchyard_harness::scenario::{self, BackupStore, CrashMethod, Scenario};

const FSMATRIX: &str = env!("CARGO_BIN_EXE_fsmatrix");

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Runs `fsmatrix` in the workspace with a work directory of its own; returns the wall time.
fn fsmatrix(work: &Path, args: &[&str]) -> Duration {
    fsmatrix_with(work, args, &[])
}

fn fsmatrix_with(work: &Path, args: &[&str], env: &[(&str, &str)]) -> Duration {
    let started = Instant::now();
    let out = Command::new(FSMATRIX)
        .current_dir(workspace())
        .envs(env.iter().copied())
        .arg("--work-dir")
        .arg(work)
        .args(args)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fsmatrix {args:?} failed; the benchmark measures passing runs only:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("  {}", stdout.lines().last().unwrap_or_default());
    elapsed
}

/// The fixtures a trial of `scenario` on `fs` creates, and whether each is recorded: one
/// filesystem per variant (for a crash trial, its probe run and one per crash point reached, as
/// its golden file lists them, or one recorded variant), plus one per variant for a backup store
/// on a second filesystem (tmpfs, or a recorded ext4 for the recorded variant).
fn fixtures(scenario: &Scenario, fs: FsKind) -> Vec<(FsKind, bool)> {
    let (stopped, recorded) = match scenario.crash() {
        None => (1, 0),
        Some(c) => {
            let golden = workspace()
                .join("golden")
                .join(format!("{}.jsonl", scenario.name));
            let variants = std::fs::read_to_string(&golden)
                .unwrap_or_else(|e| panic!("{}: {e}", golden.display()))
                .lines()
                .filter(|l| l.starts_with(r#"{"variant":"#))
                .count();
            let recorded = usize::from(c.how.contains(&CrashMethod::Recorded));
            (variants - recorded, recorded)
        }
    };
    let second = scenario.policy.overrides.backup_store == Some(BackupStore::SecondFilesystem);
    let mut kinds = vec![(fs, false); stopped];
    kinds.extend(std::iter::repeat_n((fs, true), recorded));
    if second {
        kinds.extend(std::iter::repeat_n((FsKind::Tmpfs, false), stopped));
        kinds.extend(std::iter::repeat_n((FsKind::Ext4, true), recorded));
    }
    kinds
}

/// Recorded crash states per second on `fs`, from the JSON report of a run of the recorded
/// scenarios with every state.
fn states_per_second(work: &Path, fs: FsKind) -> (u64, f64) {
    let report = work.join(format!("recorded-{fs}.json"));
    let report_arg = report.to_string_lossy().into_owned();
    fsmatrix_with(
        work,
        &[
            "run",
            "--jobs",
            "1",
            "--fs",
            fs.as_str(),
            "--json",
            &report_arg,
            "crash-recorded",
        ],
        &[("FSMATRIX_CRASH_STATES", "all")],
    );
    let report = JsonReport::read(&report).unwrap();
    let states: u64 = report.trials.iter().map(|t| t.crash_states.count).sum();
    let seconds: f64 = report
        .trials
        .iter()
        .map(|t| t.crash_states.checking.as_secs_f64())
        .sum();
    (states, seconds)
}

fn main() {
    let work = std::env::temp_dir().join("fsmatrix-bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let scenarios = scenario::load_dir(&workspace().join("scenarios")).unwrap();
    let matrix = matrix::expand(&scenarios, &FsKind::ALL, &NameFilter::default());

    println!("host runner, full matrix, --jobs 1:");
    let host = fsmatrix(&work, &["run", "--jobs", "1"]);

    let mut raw = Duration::ZERO;
    let mut count = 0;
    for id in &matrix.trials {
        let scenario = scenarios.iter().find(|s| s.name == id.scenario).unwrap();
        for (kind, recorded) in fixtures(scenario, id.fs) {
            let dir = work.join(format!("fixture-{count}"));
            std::fs::create_dir_all(&dir).unwrap();
            let started = Instant::now();
            let fixture = match recorded {
                true => Filesystem::create_recorded(kind, &dir),
                false => Filesystem::create(kind, &dir),
            };
            fixture.unwrap().close().unwrap();
            raw += started.elapsed();
            count += 1;
        }
    }
    println!(
        "  matrix wall time {:.2} s; raw mkfs + mount + umount of the same {count} filesystems {:.2} s; ratio {:.2}",
        host.as_secs_f64(),
        raw.as_secs_f64(),
        host.as_secs_f64() / raw.as_secs_f64()
    );

    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    println!("host runner, full matrix, --jobs {cpus} (the machine's CPUs):");
    let parallel = fsmatrix(&work, &["run", "--jobs", &cpus.to_string()]);
    println!(
        "  wall time {:.2} s beside {:.2} s at --jobs 1: speed-up {:.2} on {cpus} CPUs",
        parallel.as_secs_f64(),
        host.as_secs_f64(),
        host.as_secs_f64() / parallel.as_secs_f64()
    );

    println!("recorded crash states, every state, --jobs 1:");
    for fs in [FsKind::Ext4, FsKind::Btrfs, FsKind::Xfs] {
        let (states, seconds) = states_per_second(&work, fs);
        println!(
            "  {fs}: {states} crash states checked in {seconds:.2} s: {:.1} states per second",
            states as f64 / seconds
        );
    }

    println!("docker runner, same matrix, --jobs 1, image cached:");
    fsmatrix(&work, &["image", "build"]);
    let docker = fsmatrix(&work, &["run", "--runner", "docker", "--jobs", "1"]);
    println!(
        "  docker wall time {:.2} s beside host {:.2} s; ratio {:.2}",
        docker.as_secs_f64(),
        host.as_secs_f64(),
        docker.as_secs_f64() / host.as_secs_f64()
    );
    // The runner image its runs built goes with them.
    fsmatrix(&work, &["clean"]);
    let _ = std::fs::remove_dir_all(&work);
}
