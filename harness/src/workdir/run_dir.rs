//! One run's directory, alive while its lock is held.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::dir::WorkDir;
use super::error::WorkDirError;
use crate::matrix::TrialId;

pub(super) const RUN_PREFIX: &str = "run-";
pub(super) const LOCK: &str = "run.lock";
/// Where runs note the runner image they use, one file per run: `WORK/runner-images/<run>`.
pub(super) const RUNNER_IMAGES: &str = "runner-images";

/// A live run's directory; the lock is released when this is dropped.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    work_dir: PathBuf,
    _lock: File,
}

impl RunDir {
    /// Makes a new run directory under the work directory (creating and checking it) and takes
    /// its lock.
    pub fn create(work_dir: &Path) -> Result<RunDir, WorkDirError> {
        let work = WorkDir::create(work_dir)?;
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let path = work
            .path()
            .join(format!("{RUN_PREFIX}{stamp}-{}", std::process::id()));
        let io_error = |what, path: &Path| {
            let path = path.to_owned();
            move |source: io::Error| match source.kind() {
                io::ErrorKind::StorageFull => WorkDirError::Full { what, path },
                _ => WorkDirError::Io { what, path, source },
            }
        };
        DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(io_error("create", &path))?;
        let lock_path = path.join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error("create", &lock_path))?;
        lock.try_lock()
            .map_err(|e| io_error("lock", &lock_path)(io::Error::other(e)))?;
        Ok(RunDir {
            path,
            work_dir: work.path().to_owned(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The work directory the run lives in, as the kernel names it.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// `run-<time>-<pid>`: names the run in container labels.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Notes that this run uses the runner image `tag`, so that `clean` removes the image only
    /// once no live run of the work directory uses it. Outlives the run directory.
    pub fn record_runner_image(&self, tag: &str) -> io::Result<()> {
        let dir = self.work_dir.join(RUNNER_IMAGES);
        match DirBuilder::new().mode(0o700).create(&dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        fs::write(dir.join(self.name()), tag)
    }

    /// Removes the run directory once a run has nothing worth inspecting (every trial passed).
    pub fn remove(self) -> io::Result<()> {
        fs::remove_dir_all(&self.path)
    }

    /// The directory a trial child owns.
    pub fn trial_dir(&self, id: &TrialId) -> PathBuf {
        self.path.join("trials").join(id.to_string())
    }

    /// What marks every process of a trial, in its environment: unique to this run and trial.
    pub fn trial_token(&self, id: &TrialId) -> String {
        format!("{}/{id}", self.name())
    }

    /// Where a trial's rejected transcript is kept.
    pub fn bad_transcript(&self, id: &TrialId) -> PathBuf {
        self.path
            .join("bad")
            .join(format!("{}.{}.jsonl.bad", id.scenario, id.fs))
    }
}
