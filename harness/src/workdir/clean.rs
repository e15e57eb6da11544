//! `clean`'s view of a work directory: which `run-*` entries are dead runs (their lock is free),
//! which are alive, and which are no run at all. It never follows a symlink: each entry is
//! opened beneath the work directory with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`.

use std::ffi::OsStr;
use std::fs::{self, File, TryLockError};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::dir::WorkDir;
use super::error::WorkDirError;
use super::run_dir::{LOCK, RUN_PREFIX, RUNNER_IMAGES};
use super::trial_group::TrialGroup;
use crate::fixture::{self, SweepReport};

/// Why `clean` left an entry of the work directory alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Left {
    /// Its lock is held: the run is still going.
    Alive,
    /// A symlink, never followed.
    Symlink,
    NotADirectory,
    /// A directory without a `run.lock` of its own (another work directory named `run-*`, say):
    /// not a run.
    NoLock,
}

impl std::fmt::Display for Left {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Left::Alive => "its run is still going",
            Left::Symlink => "a symlink, not a run directory",
            Left::NotADirectory => "not a directory",
            Left::NoLock => "it has no run.lock, so it is not a run directory",
        })
    }
}

/// The `run-*` entries of a work directory, each dead run's lock held until it is swept.
#[derive(Debug)]
pub struct Survey {
    work: WorkDir,
    dead: Vec<(PathBuf, File)>,
    left: Vec<(PathBuf, Left)>,
    /// (run, runner image tag) as the runs of the work directory noted them.
    images: Vec<(String, String)>,
}

/// What `clean` did.
#[derive(Debug, Default)]
pub struct Cleaned {
    pub runs: Vec<PathBuf>,
    pub sweeps: Vec<SweepReport>,
    pub left: Vec<(PathBuf, Left)>,
}

impl Survey {
    /// Looks at every `run-*` entry of `work_dir`; `None` when there is no work directory.
    pub fn of(work_dir: &Path) -> Result<Option<Survey>, WorkDirError> {
        let Some(work) = WorkDir::open(work_dir)? else {
            return Ok(None);
        };
        let io_error = |what, path: &Path| {
            let path = path.to_owned();
            move |e: Errno| WorkDirError::Io {
                what,
                path,
                source: e.into(),
            }
        };
        let mut names: Vec<Vec<u8>> = Vec::new();
        for entry in Dir::read_from(work.fd()).map_err(io_error("list", work.path()))? {
            let entry = entry.map_err(io_error("list", work.path()))?;
            let name = entry.file_name().to_bytes();
            if name.starts_with(RUN_PREFIX.as_bytes()) {
                names.push(name.to_owned());
            }
        }
        names.sort();
        let mut survey = Survey {
            images: noted_images(&work)?,
            work,
            dead: Vec::new(),
            left: Vec::new(),
        };
        for name in names {
            let path = survey.work.path().join(OsStr::from_bytes(&name));
            let run = match beneath(survey.work.fd(), &name, OFlags::DIRECTORY) {
                Ok(fd) => fd,
                // `O_DIRECTORY | O_NOFOLLOW` refuses a symlink with ENOTDIR (or ELOOP).
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    let why = if is_symlink(survey.work.fd(), &name) {
                        Left::Symlink
                    } else {
                        Left::NotADirectory
                    };
                    survey.left.push((path, why));
                    continue;
                }
                // Removed since it was listed.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(io_error("open", &path)(e)),
            };
            let lock = match beneath(&run, LOCK.as_bytes(), OFlags::empty()) {
                Ok(fd) => File::from(fd),
                Err(Errno::NOENT | Errno::LOOP) => {
                    survey.left.push((path, Left::NoLock));
                    continue;
                }
                Err(e) => return Err(io_error("open", &path.join(LOCK))(e)),
            };
            match lock.try_lock() {
                Ok(()) => survey.dead.push((path, lock)),
                Err(TryLockError::WouldBlock) => survey.left.push((path, Left::Alive)),
                Err(TryLockError::Error(source)) => {
                    return Err(WorkDirError::Io {
                        what: "lock",
                        path: path.join(LOCK),
                        source,
                    });
                }
            }
        }
        Ok(Some(survey))
    }

    /// The work directory as the kernel names it.
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    /// The names of the runs found dead: what is labelled with one of them is theirs to remove.
    pub fn dead_runs(&self) -> Vec<String> {
        self.dead
            .iter()
            .filter_map(|(path, _)| Some(path.file_name()?.to_string_lossy().into_owned()))
            .collect()
    }

    /// The names of the runs still going.
    fn alive_runs(&self) -> Vec<String> {
        self.left
            .iter()
            .filter(|(_, why)| *why == Left::Alive)
            .filter_map(|(path, _)| Some(path.file_name()?.to_string_lossy().into_owned()))
            .collect()
    }

    /// Runner images that runs of the work directory used, none of them alive.
    pub fn images_of_dead_runs(&self) -> Vec<String> {
        let alive = self.alive_runs();
        let in_use: Vec<&String> = self
            .images
            .iter()
            .filter(|(run, _)| alive.contains(run))
            .map(|(_, tag)| tag)
            .collect();
        let mut tags: Vec<String> = self
            .images
            .iter()
            .filter(|(_, tag)| !in_use.contains(&tag))
            .map(|(_, tag)| tag.clone())
            .collect();
        tags.sort();
        tags.dedup();
        tags
    }

    /// Forgets the notes of runner images that are gone.
    pub fn forget_images(&self, gone: &[String]) -> Result<(), WorkDirError> {
        let dir = self.work.path().join(RUNNER_IMAGES);
        for (run, _) in self.images.iter().filter(|(_, tag)| gone.contains(tag)) {
            let note = dir.join(run);
            match fs::remove_file(&note) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(WorkDirError::Io {
                        what: "remove",
                        path: note,
                        source: e,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Kills what each dead run's trials provably left running, then sweeps the run.
    pub fn sweep(self) -> Result<Cleaned, WorkDirError> {
        let mut cleaned = Cleaned {
            left: self.left,
            ..Cleaned::default()
        };
        for (run, _lock) in self.dead {
            kill_leftover_processes(&run);
            let report = fixture::sweep(&run).map_err(|source| WorkDirError::Sweep {
                run: run.clone(),
                source,
            })?;
            cleaned.sweeps.push(report);
            cleaned.runs.push(run);
        }
        Ok(cleaned)
    }
}

/// The runner images the runs of `work` noted, each read without following a symlink.
fn noted_images(work: &WorkDir) -> Result<Vec<(String, String)>, WorkDirError> {
    let path = work.path().join(RUNNER_IMAGES);
    let io_error = |path: &Path| {
        let path = path.to_owned();
        move |e: Errno| WorkDirError::Io {
            what: "read",
            path,
            source: e.into(),
        }
    };
    let dir = match beneath(work.fd(), RUNNER_IMAGES.as_bytes(), OFlags::DIRECTORY) {
        Ok(dir) => dir,
        Err(Errno::NOENT) => return Ok(Vec::new()),
        Err(e) => return Err(io_error(&path)(e)),
    };
    let mut images = Vec::new();
    for entry in Dir::read_from(&dir).map_err(io_error(&path))? {
        let entry = entry.map_err(io_error(&path))?;
        let name = entry.file_name().to_bytes();
        if name.starts_with(b".") {
            continue;
        }
        let Ok(note) = beneath(&dir, name, OFlags::empty()) else {
            continue;
        };
        let tag = std::io::read_to_string(File::from(note)).map_err(|source| WorkDirError::Io {
            what: "read",
            path: path.join(OsStr::from_bytes(name)),
            source,
        })?;
        let run = String::from_utf8_lossy(name).into_owned();
        images.push((run, tag.trim().to_owned()));
    }
    Ok(images)
}

/// Opens `name` in `dir` without following a symlink anywhere, and never outside `dir`.
fn beneath(dir: impl AsFd, name: &[u8], extra: OFlags) -> Result<OwnedFd, Errno> {
    rustix::fs::openat2(
        dir,
        OsStr::from_bytes(name),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | extra,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
}

fn is_symlink(dir: impl AsFd, name: &[u8]) -> bool {
    rustix::fs::statat(dir, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
}

/// A trial child dies with its run, but what it started (a health check that hangs) would live
/// on and could hold its mounts.
fn kill_leftover_processes(run: &Path) {
    for trial in fs::read_dir(run.join("trials"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Some(group) = TrialGroup::read(&trial.path()) {
            group.kill();
        }
    }
}
