//! The directories a run owns, and the reclaiming of what a killed run left behind.
//!
//! Every run makes `WORK/run-<time>-<pid>/` and holds an exclusive `flock` on its `run.lock`
//! while it lives. Trials live under `trials/`, rejected transcripts under `bad/`. `fsmatrix
//! clean` sweeps every run directory whose lock nobody holds: its mounts, its loop devices (found
//! by backing file under the directory), then the directory itself. Nothing is guessed: the
//! processes killed are the process groups the dead run recorded for its trials.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::fixture::{self, SweepReport};
use crate::matrix::TrialId;
use crate::runner::PROCESS_GROUP_FILE;

/// The default work directory, unless `--work-dir` or `FSMATRIX_WORK_DIR` says otherwise.
pub const DEFAULT_WORK_DIR: &str = "/var/tmp/fsmatrix";

const RUN_PREFIX: &str = "run-";
const LOCK: &str = "run.lock";

/// A live run's directory; the lock is released when this is dropped.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    _lock: File,
}

impl RunDir {
    pub fn create(work_dir: &Path) -> io::Result<RunDir> {
        fs::create_dir_all(work_dir)?;
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let path = work_dir.join(format!("{RUN_PREFIX}{stamp}-{}", std::process::id()));
        fs::create_dir(&path)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join(LOCK))?;
        lock.try_lock().map_err(io::Error::other)?;
        Ok(RunDir { path, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the run directory once a run has nothing worth inspecting (every trial passed).
    pub fn remove(self) -> io::Result<()> {
        fs::remove_dir_all(&self.path)
    }

    /// The directory a trial child owns.
    pub fn trial_dir(&self, id: &TrialId) -> PathBuf {
        self.path.join("trials").join(id.to_string())
    }

    /// Where a trial's rejected transcript is kept.
    pub fn bad_transcript(&self, id: &TrialId) -> PathBuf {
        self.path
            .join("bad")
            .join(format!("{}.{}.jsonl.bad", id.scenario, id.fs))
    }
}

/// What `clean` did.
#[derive(Debug, Default)]
pub struct Cleaned {
    pub runs: Vec<PathBuf>,
    pub sweeps: Vec<SweepReport>,
    /// Runs still alive (their lock is held), left alone.
    pub alive: Vec<PathBuf>,
}

/// Sweeps every dead run under `work_dir`.
pub fn clean(work_dir: &Path) -> Result<Cleaned, fixture::FixtureError> {
    let mut cleaned = Cleaned::default();
    let entries = match fs::read_dir(work_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(cleaned),
        Err(source) => {
            return Err(fixture::FixtureError::Read {
                path: work_dir.to_owned(),
                source,
            });
        }
    };
    let mut runs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(RUN_PREFIX))
        })
        .collect();
    runs.sort();
    for run in runs {
        if is_alive(&run) {
            cleaned.alive.push(run);
            continue;
        }
        kill_leftover_processes(&run);
        cleaned.sweeps.push(fixture::sweep(&run)?);
        cleaned.runs.push(run);
    }
    Ok(cleaned)
}

/// Kills the process groups a dead run's trials ran in: a trial child dies with the run, but
/// what it started (a health check that hangs) would live on and could hold its mounts.
fn kill_leftover_processes(run: &Path) {
    let trials = fs::read_dir(run.join("trials"))
        .into_iter()
        .flatten()
        .flatten();
    for trial in trials {
        let Ok(text) = fs::read_to_string(trial.path().join(PROCESS_GROUP_FILE)) else {
            continue;
        };
        if let Some(pgid) = text
            .trim()
            .parse()
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    }
}

/// A run is alive while some process holds its lock.
fn is_alive(run: &Path) -> bool {
    match File::open(run.join(LOCK)) {
        Ok(lock) => match lock.try_lock() {
            Ok(()) => false,
            Err(std::fs::TryLockError::WouldBlock) => true,
            Err(std::fs::TryLockError::Error(_)) => false,
        },
        Err(_) => false,
    }
}
