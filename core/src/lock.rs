//! The one-mutator-at-a-time lock: `flock` on a lock file, with a bounded wait.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::Error;

/// A lock file that every mutating operation holds for its whole length (including health
/// checks and automatic rollback). Another process holding it makes the engine wait up to
/// `wait`, then fail with `E_LOCKING`.
#[derive(Clone, Debug)]
pub struct FileLock {
    path: PathBuf,
    wait: Duration,
}

/// A held lock; released when dropped (closing the file releases the `flock`).
#[derive(Debug)]
pub(crate) struct LockGuard {
    _file: File,
    /// How long taking it took.
    pub(crate) waited_ms: u64,
}

impl FileLock {
    pub fn new(path: impl Into<PathBuf>, wait: Duration) -> FileLock {
        FileLock {
            path: path.into(),
            wait,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn acquire(&self) -> Result<LockGuard, Error> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&self.path)
            .map_err(|source| Error::LockFile {
                path: self.path.clone(),
                source,
            })?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => {
                    return Ok(LockGuard {
                        _file: file,
                        waited_ms: millis(start.elapsed()),
                    });
                }
                Err(TryLockError::WouldBlock) if start.elapsed() < self.wait => {
                    thread::sleep(Duration::from_millis(10));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::LockTimeout {
                        path: self.path.clone(),
                        waited_ms: millis(start.elapsed()),
                    });
                }
                Err(TryLockError::Error(source)) => {
                    return Err(Error::LockFile {
                        path: self.path.clone(),
                        source,
                    });
                }
            }
        }
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
