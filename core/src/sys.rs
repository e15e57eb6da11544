//! Every system call the engine makes, as small typed functions on directory file descriptors.
//!
//! Nothing above this module names a syscall; it speaks of swaps, backups and restores.
//! Names are always single path components relative to a directory fd, except in
//! [`open_dir_in`], which resolves a relative directory path inside a root.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, ResolveFlags, XattrFlags};

/// The metadata the engine looks at, from `lstat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) file_type: FileType,
    /// Permission bits including setuid, setgid and sticky.
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) size: u64,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
}

impl Meta {
    fn from_stat(st: &rustix::fs::Stat) -> Meta {
        Meta {
            file_type: FileType::from_raw_mode(st.st_mode),
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size as u64,
            dev: st.st_dev,
            ino: st.st_ino,
        }
    }
}

/// `open(path, O_DIRECTORY | O_RDONLY | O_CLOEXEC)`: the root, opened once per operation.
pub(crate) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// `openat2(root, rel, O_DIRECTORY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`.
///
/// Symlinks met on the way (merged-/usr `bin -> usr/bin`, or an attacker's link to `/etc`)
/// resolve as if `root` were `/`, so the result is always a directory inside the root.
pub(crate) fn open_dir_in(root: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    retry_on_rename_race(|| {
        rustix::fs::openat2(
            root,
            rel,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
            in_root() | ResolveFlags::NO_MAGICLINKS,
        )
    })
}

/// `RESOLVE_IN_ROOT`, unless the self-test's defect drops it.
fn in_root() -> ResolveFlags {
    if defect!(NoResolveInRoot) {
        ResolveFlags::empty()
    } else {
        ResolveFlags::IN_ROOT
    }
}

/// `openat2` with `RESOLVE_IN_ROOT` fails with `EAGAIN` when any rename happened on the system
/// during the lookup (so that `..` cannot be raced); the kernel asks callers to retry.
fn retry_on_rename_race<T>(mut open: impl FnMut() -> rustix::io::Result<T>) -> io::Result<T> {
    const ATTEMPTS: u32 = 1000;
    let mut attempt = 1;
    loop {
        match open() {
            Err(rustix::io::Errno::AGAIN) if attempt < ATTEMPTS => attempt += 1,
            result => return Ok(result?),
        }
    }
}

/// `openat2(root, rel, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` then `fstat`: what a
/// path inside the root finally is, following symlinks as if `root` were `/`.
pub(crate) fn stat_in(root: BorrowedFd<'_>, rel: &Path) -> io::Result<Meta> {
    let fd = retry_on_rename_race(|| {
        rustix::fs::openat2(
            root,
            rel,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            in_root() | ResolveFlags::NO_MAGICLINKS,
        )
    })?;
    fstat(fd.as_fd())
}

/// `mkdirat(dir, name, mode)`; an existing directory is not an error.
pub(crate) fn mkdir_at(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<()> {
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `openat(dir, name, O_DIRECTORY)`, not following a final symlink.
pub(crate) fn open_subdir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dir,
        name,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )?)
}

/// The absolute path the kernel gives for an open directory (`readlink /proc/self/fd/N`).
pub(crate) fn fd_path(fd: BorrowedFd<'_>) -> io::Result<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`; `None` when the name does not exist.
pub(crate) fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<Meta>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(Meta::from_stat(&st))),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `fstat(fd)`.
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<Meta> {
    Ok(Meta::from_stat(&rustix::fs::fstat(fd)?))
}

/// `readlinkat(dir, name)`: a symlink's destination as text.
pub(crate) fn read_link_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OsString> {
    let dest = rustix::fs::readlinkat(dir, name, Vec::new())?;
    Ok(OsString::from_vec(dest.into_bytes()))
}

/// `symlinkat(dest, dir, name)`.
pub(crate) fn symlink_at(dest: &OsStr, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(rustix::fs::symlinkat(dest, dir, name)?)
}

/// `renameat2(from_dir, from, to_dir, to, RENAME_EXCHANGE)`: swaps two names atomically.
///
/// Fails with `EINVAL` where the filesystem does not support the exchange.
pub(crate) fn rename_exchange(
    from_dir: BorrowedFd<'_>,
    from: &OsStr,
    to_dir: BorrowedFd<'_>,
    to: &OsStr,
) -> io::Result<()> {
    #[cfg(test)]
    if tests::exchange_unsupported() {
        return Err(io::Error::from_raw_os_error(
            rustix::io::Errno::INVAL.raw_os_error(),
        ));
    }
    Ok(rustix::fs::renameat_with(
        from_dir,
        from,
        to_dir,
        to,
        RenameFlags::EXCHANGE,
    )?)
}

/// `renameat2(from_dir, from, to_dir, to, RENAME_NOREPLACE)`: fails with `EEXIST` if `to` exists.
pub(crate) fn rename_noreplace(
    from_dir: BorrowedFd<'_>,
    from: &OsStr,
    to_dir: BorrowedFd<'_>,
    to: &OsStr,
) -> io::Result<()> {
    Ok(rustix::fs::renameat_with(
        from_dir,
        from,
        to_dir,
        to,
        RenameFlags::NOREPLACE,
    )?)
}

/// `renameat(from_dir, from, to_dir, to)`: atomically replaces `to`.
pub(crate) fn rename_replace(
    from_dir: BorrowedFd<'_>,
    from: &OsStr,
    to_dir: BorrowedFd<'_>,
    to: &OsStr,
) -> io::Result<()> {
    Ok(rustix::fs::renameat(from_dir, from, to_dir, to)?)
}

/// `linkat(from_dir, from, to_dir, to, 0)`: a second name for the same inode (symlinks not followed).
pub(crate) fn hard_link(
    from_dir: BorrowedFd<'_>,
    from: &OsStr,
    to_dir: BorrowedFd<'_>,
    to: &OsStr,
) -> io::Result<()> {
    Ok(rustix::fs::linkat(
        from_dir,
        from,
        to_dir,
        to,
        AtFlags::empty(),
    )?)
}

/// `unlinkat(dir, name, 0)`.
pub(crate) fn unlink_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?)
}

/// `unlinkat(dir, name, 0)`, where a name that is already gone is fine.
pub(crate) fn unlink_if_exists(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<bool> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// `openat(dir, name, O_RDONLY | O_NOFOLLOW)`: reads a regular file without following a link.
pub(crate) fn open_read(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(File::from(fd))
}

/// `openat(dir, name, O_WRONLY | O_CREAT | O_EXCL, 0600)`: a new private file.
pub(crate) fn create_new(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    Ok(File::from(fd))
}

/// `fchown(fd, uid, gid)` then `fchmod(fd, mode)`, in that order: chown clears setuid bits.
pub(crate) fn set_owner_and_mode(
    fd: BorrowedFd<'_>,
    uid: u32,
    gid: u32,
    mode: u32,
) -> io::Result<()> {
    let (uid, gid) = (
        rustix::fs::Uid::from_raw(uid),
        rustix::fs::Gid::from_raw(gid),
    );
    rustix::fs::fchown(fd, Some(uid), Some(gid))?;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(mode))?;
    Ok(())
}

/// Copies every extended attribute of `from` onto `to` (`flistxattr`, `fgetxattr`, `fsetxattr`).
pub(crate) fn copy_xattrs(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    let size = rustix::fs::flistxattr_query(from)?;
    let mut names = vec![0u8; size];
    let len = rustix::fs::flistxattr(from, &mut names)?;
    for name in names[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = OsStr::from_bytes(name);
        let size = rustix::fs::fgetxattr_query(from, name)?;
        let mut value = vec![0u8; size];
        let len = rustix::fs::fgetxattr(from, name, &mut value)?;
        rustix::fs::fsetxattr(to, name, &value[..len], XattrFlags::empty())?;
    }
    Ok(())
}

/// `fsync(fd)`: for a directory, makes its entries durable.
pub(crate) fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    Ok(rustix::fs::fsync(fd)?)
}

/// `syncfs(fd)`: one flush of every dirty file of the filesystem that holds `fd`.
pub(crate) fn syncfs(fd: BorrowedFd<'_>) -> io::Result<()> {
    Ok(rustix::fs::syncfs(fd)?)
}

/// The names in a directory, without `.` and `..`.
pub(crate) fn read_dir_names(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name.to_vec()));
        }
    }
    Ok(names)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::Cell;

    thread_local! {
        static EXCHANGE_UNSUPPORTED: Cell<bool> = const { Cell::new(false) };
    }

    /// Makes `rename_exchange` fail with `EINVAL` on this thread, as on a filesystem without
    /// `RENAME_EXCHANGE`. None of the kernel's filesystems here lacks it, so the fallback path
    /// is reached only this way.
    pub(crate) fn set_exchange_unsupported(unsupported: bool) {
        EXCHANGE_UNSUPPORTED.with(|c| c.set(unsupported));
    }

    pub(super) fn exchange_unsupported() -> bool {
        EXCHANGE_UNSUPPORTED.with(Cell::get)
    }
}
