//! The work directory itself: opened without following a symlink, and refused unless only its
//! owner (the user running fsmatrix, root) can put anything in it, or move it: every directory
//! above it must be root's and writable by nobody else, as OpenSSH's StrictModes wants of a
//! user's `~/.ssh`. A new one is created mode 0700; an existing one must already be, because
//! fsmatrix changes the mode of no directory it did not make (`--work-dir /var`, mistyped, would
//! otherwise lock every other user out of `/var`).

use std::fs::{self, DirBuilder};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, Stat};
use rustix::io::Errno;

use super::error::{AncestorFault, WorkDirError};

/// The default work directory, unless `--work-dir` or `FSMATRIX_WORK_DIR` says otherwise.
pub const DEFAULT_WORK_DIR: &str = "/var/tmp/fsmatrix";

/// An open, checked work directory.
#[derive(Debug)]
pub struct WorkDir {
    /// As the kernel names it (absolute, no symlinks): what mountinfo and sysfs will show.
    path: PathBuf,
    fd: OwnedFd,
}

impl WorkDir {
    /// Opens the work directory, creating it with mode 0700 when it does not exist.
    pub fn create(path: &Path) -> Result<WorkDir, WorkDirError> {
        let path = without_trailing_slash(path);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // 0755 whatever the umask: a directory above the work directory that others may
            // write to is refused below.
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(io_error("create", parent))?;
        }
        let made = match DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(io_error("create", &path)(e)),
        };
        open_checked(&path, made)
    }

    /// Opens an existing work directory; `None` when there is none.
    pub fn open(path: &Path) -> Result<Option<WorkDir>, WorkDirError> {
        let path = without_trailing_slash(path);
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            _ => open_checked(&path, false).map(Some),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `dir/` would make the kernel follow `dir` even with `O_NOFOLLOW`.
fn without_trailing_slash(path: &Path) -> PathBuf {
    path.components().collect()
}

/// Opens and checks the work directory; `made` when this process has just created it.
fn open_checked(path: &Path, made: bool) -> Result<WorkDir, WorkDirError> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::LOOP | Errno::NOTDIR) => {
            let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            return Err(if is_link {
                WorkDirError::Symlink {
                    path: path.to_owned(),
                }
            } else {
                WorkDirError::NotADirectory {
                    path: path.to_owned(),
                }
            });
        }
        Err(e) => return Err(io_error("open", path)(e.into())),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|e| io_error("inspect", path)(e.into()))?;
    let wanted_uid = rustix::process::geteuid().as_raw();
    let mode = stat.st_mode & 0o7777;
    if stat.st_uid != wanted_uid || mode & 0o022 != 0 {
        return Err(WorkDirError::NotPrivate {
            path: path.to_owned(),
            uid: stat.st_uid,
            mode,
            wanted_uid,
        });
    }
    if mode != 0o700 && !made {
        return Err(WorkDirError::NotMode700 {
            path: path.to_owned(),
            mode,
        });
    }
    let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
    let path = fs::read_link(&proc_path).map_err(io_error("resolve", path))?;
    check_ancestors(&path, &stat, wanted_uid)?;
    // The umask may have taken bits from the directory just made (0500 under umask 0277).
    if mode != 0o700 {
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700))
            .map_err(|e| io_error("make private", &path)(e.into()))?;
    }
    Ok(WorkDir { path, fd })
}

/// Walks from `/` down to the work directory (`path`, as the kernel names it; `work` its
/// status) without following a symlink, and refuses it unless every directory above it is
/// owned by root (or by `uid`, who runs fsmatrix) and writable by nobody else, or sticky. The
/// owner of a directory, and anyone who may write to it, can rename what is in it: the work
/// directory, between `clean`'s look at a dead run and its sweep, replaced by one holding a
/// symlink to any directory that `clean` would then unmount and delete as root. A sticky
/// directory (`/tmp`, `/var/tmp`) lets others rename only what they own, and the next directory
/// down is held to this same rule (the work directory itself is `uid`'s).
fn check_ancestors(path: &Path, work: &Stat, uid: u32) -> Result<(), WorkDirError> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let root = Path::new("/");
    let mut dir = rustix::fs::open(root, flags, Mode::empty())
        .map_err(|e| io_error("open", root)(e.into()))?;
    let mut here = root.to_owned();
    for name in path.components().skip(1) {
        let stat = rustix::fs::fstat(&dir).map_err(|e| io_error("inspect", &here)(e.into()))?;
        if let Some(fault) = AncestorFault::of(stat.st_uid, stat.st_mode, uid) {
            return Err(WorkDirError::UnsafeAncestor {
                path: path.to_owned(),
                ancestor: here,
                fault,
            });
        }
        here.push(name);
        dir = match rustix::fs::openat(&dir, name.as_os_str(), flags, Mode::empty()) {
            Ok(next) => next,
            // A symlink or something else now, where the kernel named a directory.
            Err(Errno::LOOP | Errno::NOTDIR | Errno::NOENT) => {
                return Err(WorkDirError::Moved {
                    path: path.to_owned(),
                });
            }
            Err(e) => return Err(io_error("open", &here)(e.into())),
        };
    }
    let end = rustix::fs::fstat(&dir).map_err(|e| io_error("inspect", path)(e.into()))?;
    if (end.st_dev, end.st_ino) != (work.st_dev, work.st_ino) {
        return Err(WorkDirError::Moved {
            path: path.to_owned(),
        });
    }
    Ok(())
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WorkDirError {
    let path = path.to_owned();
    move |source| WorkDirError::Io { what, path, source }
}
