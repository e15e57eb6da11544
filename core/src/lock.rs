//! The one-mutator-at-a-time lock: `flock` on a lock file, with a bounded wait.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::sys;
use crate::tree::{Root, SyncSet};

/// A lock file that every mutating operation holds for its whole length (including health
/// checks and automatic rollback). Another process holding it makes the engine wait up to
/// `wait`, then fail with `E_LOCKING`.
#[derive(Clone, Debug)]
pub struct FileLock {
    /// The lock file as messages name it.
    path: PathBuf,
    place: Place,
    wait: Duration,
}

#[derive(Clone, Debug)]
enum Place {
    /// `path` as the host resolves it.
    Host,
    /// `rel` inside `root`, resolved there like every path of a plan.
    InRoot { root: PathBuf, rel: PathBuf },
}

/// A held lock; released when dropped (closing the file releases the `flock`).
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
    /// How long taking it took.
    pub(crate) waited_ms: u64,
}

impl FileLock {
    pub fn new(path: impl Into<PathBuf>, wait: Duration) -> FileLock {
        FileLock {
            path: path.into(),
            place: Place::Host,
            wait,
        }
    }

    /// A lock file at `rel` inside `root` (such as the root's own state directory), made with
    /// its missing directories when first taken. Its directories are resolved and made inside
    /// the root, never following a symlink out of it (an absolute `var/lib -> /elsewhere` is
    /// refused, not followed on the host). Nothing is touched until the lock is taken, so a
    /// dry run that is given it changes nothing.
    pub fn in_root(root: impl Into<PathBuf>, rel: impl Into<PathBuf>, wait: Duration) -> FileLock {
        let (root, rel) = (root.into(), rel.into());
        FileLock {
            path: root.join(&rel),
            place: Place::InRoot { root, rel },
            wait,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the lock, waiting as long as this lock allows. The engine takes it for each
    /// operation; a caller takes it for its own bookkeeping between operations (never while
    /// calling the engine with the same lock, which would wait for itself).
    pub fn acquire(&self) -> Result<LockGuard, Error> {
        let lock_file = |source| Error::LockFile {
            path: self.path.clone(),
            source,
        };
        let file = match &self.place {
            Place::Host => OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&self.path)
                .map_err(lock_file)?,
            Place::InRoot { root, rel } => {
                let name = rel
                    .file_name()
                    .ok_or_else(|| lock_file(io::ErrorKind::InvalidInput.into()))?;
                let mut root = Root::open(root)?;
                let mut made = SyncSet::default();
                let dir = root
                    .dir_creating(rel.parent().unwrap_or(Path::new("")), &mut made)
                    .map_err(lock_file)?;
                // Directories made here may hold durable records later (a root's plan
                // records share the lock's directory): their entries must be durable too.
                made.sync_dirs()?;
                sys::open_lock(dir.fd(), name).map_err(lock_file)?
            }
        };
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
