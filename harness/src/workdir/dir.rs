//! The work directory itself: opened without following a symlink, and refused unless only its
//! owner (the user running fsmatrix, root) can put anything in it; such a directory is then made
//! mode 0700 if it was not (a new one is created so).

use std::fs::{self, DirBuilder};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::error::WorkDirError;

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
            fs::create_dir_all(parent).map_err(io_error("create", parent))?;
        }
        match DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error("create", &path)(e)),
        }
        open_checked(&path)
    }

    /// Opens an existing work directory; `None` when there is none.
    pub fn open(path: &Path) -> Result<Option<WorkDir>, WorkDirError> {
        let path = without_trailing_slash(path);
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            _ => open_checked(&path).map(Some),
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

fn open_checked(path: &Path) -> Result<WorkDir, WorkDirError> {
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
    // Ours, and nobody else could add to it: only readable by others, which it need not be.
    if mode != 0o700 {
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700))
            .map_err(|e| io_error("make private", path)(e.into()))?;
    }
    let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
    let path = fs::read_link(&proc_path).map_err(io_error("resolve", path))?;
    Ok(WorkDir { path, fd })
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WorkDirError {
    let path = path.to_owned();
    move |source| WorkDirError::Io { what, path, source }
}
