//! The whole matrix as tests: one test per (scenario, filesystem), through the same runner as
//! `fsmatrix run` (each trial in an `fsmatrix __trial` child), compared with `golden/`.
//!
//! Listing (`--list`) only reads the scenario files. Nothing is ever ignored: `--ignored` is
//! refused, and a run that reports an ignored test fails.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use switchyard_harness::fixture;
use switchyard_harness::fs_kind::FsKind;
use switchyard_harness::matrix::{self, NameFilter};
use switchyard_harness::report::Outcome;
use switchyard_harness::runner::{self, RunConfig};
use switchyard_harness::scenario;
use switchyard_harness::signal::Cancel;
use switchyard_harness::trial_children::TrialChildren;
use switchyard_harness::workdir::{DEFAULT_WORK_DIR, RunDir};

const TRIAL_TIMEOUT: Duration = Duration::from_secs(300);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness lives in the workspace")
        .to_owned()
}

static RUN_DIR: OnceLock<RunDir> = OnceLock::new();

/// One run directory for the whole test process, made when the first trial starts.
fn run_dir() -> &'static RunDir {
    RUN_DIR.get_or_init(|| {
        let work = std::env::var_os("FSMATRIX_WORK_DIR")
            .map_or_else(|| PathBuf::from(DEFAULT_WORK_DIR), PathBuf::from);
        RunDir::create(&work)
            .unwrap_or_else(|e| panic!("cannot create a run directory in {}: {e}", work.display()))
    })
}

static CHILDREN: OnceLock<TrialChildren> = OnceLock::new();

/// The trial children of the test process, which adopts what they leave when they die.
fn children() -> &'static TrialChildren {
    CHILDREN.get_or_init(|| {
        TrialChildren::adopting_orphans()
            .unwrap_or_else(|e| panic!("cannot become the reaper of the trials' orphans: {e}"))
    })
}

/// Narrows the matrix to some filesystems (comma-separated), for a command that runs it many
/// times, such as `scripts/mutants`; unset, every filesystem runs.
const FS_VAR: &str = "FSMATRIX_MATRIX_FS";

fn filesystems() -> Result<Vec<FsKind>, String> {
    match std::env::var(FS_VAR) {
        Err(_) => Ok(FsKind::ALL.to_vec()),
        Ok(list) => list
            .split(',')
            .map(|name| {
                FsKind::ALL
                    .into_iter()
                    .find(|f| f.as_str() == name)
                    .ok_or_else(|| format!("unknown filesystem `{name}`"))
            })
            .collect(),
    }
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    if args.ignored {
        eprintln!(
            "matrix: no trial is ever ignored, so --ignored would run nothing; run without it"
        );
        return ExitCode::FAILURE;
    }
    let scenarios_dir = workspace().join("scenarios");
    let scenarios = match scenario::load_dir(&scenarios_dir) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    let filesystems = match filesystems() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("matrix: {FS_VAR}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let matrix = matrix::expand(&scenarios, &filesystems, &NameFilter::default());
    let files: std::collections::BTreeMap<String, PathBuf> = scenarios
        .iter()
        .map(|s| (s.name.clone(), s.file.clone()))
        .collect();
    let cancel = Cancel::default();

    let trials = matrix
        .trials
        .into_iter()
        .map(|id| {
            let files = files.clone();
            let cancel = cancel.clone();
            Trial::test(id.to_string(), move || {
                let config = RunConfig {
                    exe: PathBuf::from(env!("CARGO_BIN_EXE_fsmatrix")),
                    scenario_files: files,
                    golden_dir: workspace().join("golden"),
                    run_dir: run_dir(),
                    jobs: 1,
                    trial_timeout: TRIAL_TIMEOUT,
                    verify_golden: true,
                };
                let done = runner::execute(&id, &config, &cancel, children());
                match done.result.outcome {
                    Outcome::Passed => Ok(()),
                    Outcome::Failed(f) => {
                        let mut message = format!("[{}] {}", f.kind, f.message);
                        if let Some(diff) = f.diff {
                            message.push('\n');
                            message.push_str(&diff);
                        }
                        Err(Failed::from(message))
                    }
                }
            })
        })
        .collect();

    let conclusion = libtest_mimic::run(&args, trials);
    if conclusion.num_ignored > 0 {
        eprintln!(
            "matrix: {} trials were ignored; nothing may be skipped",
            conclusion.num_ignored
        );
        return ExitCode::FAILURE;
    }
    // Whatever happened, nothing of this run may stay mounted or attached.
    if let Some(dir) = RUN_DIR.get() {
        match fixture::leaks_under(dir.path()) {
            Ok(leaks) if leaks.is_empty() => {}
            Ok(leaks) => {
                eprintln!("matrix: the run left resources behind: {leaks}");
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!(
                    "matrix: cannot check for leaks: {}",
                    switchyard_harness::error::chain(&e)
                );
                return ExitCode::FAILURE;
            }
        }
    }
    if !conclusion.has_failed()
        && let Some(dir) = RUN_DIR.get()
    {
        let _ = std::fs::remove_dir_all(dir.path());
    }
    conclusion.exit_code()
}
