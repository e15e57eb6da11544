//! Every system call the engine makes, as small typed functions on directory file descriptors.
//!
//! Nothing above this module names a syscall; it speaks of swaps, backups and restores.
//! Names are always single path components relative to a directory fd, except in
//! [`open_dir_in`], which resolves a relative directory path inside a root.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, RenameFlags, ResolveFlags, XattrFlags};
use rustix::io::Errno;

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

/// `openat2(root, rel, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: the object a path
/// inside the root finally is, following symlinks as if `root` were `/`.
pub(crate) fn open_path_in(root: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    retry_on_rename_race(|| {
        rustix::fs::openat2(
            root,
            rel,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            in_root() | ResolveFlags::NO_MAGICLINKS,
        )
    })
}

/// `openat2(root, rel, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` without `O_CLOEXEC`: a
/// program of the root, to execute through [`exec_path`]. The descriptor must stay open in the
/// program the exec starts, as the kernel hands a `#!` script's interpreter `/proc/self/fd/N` to
/// read the script from; so any child started while it is open inherits it, and the caller
/// closes it as soon as its own child has started.
pub(crate) fn open_program_in(root: BorrowedFd<'_>, rel: &Path) -> io::Result<OwnedFd> {
    retry_on_rename_race(|| {
        rustix::fs::openat2(
            root,
            rel,
            OFlags::PATH,
            Mode::empty(),
            in_root() | ResolveFlags::NO_MAGICLINKS,
        )
    })
}

/// The path through which a child executes the file `fd` holds: `/proc/self/fd/N`, which leads
/// to that very file whatever its path is now, as `fexecve` does where it has no `execveat`.
pub(crate) fn exec_path(fd: BorrowedFd<'_>) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// [`open_path_in`] then `fstat`: what a path inside the root finally is.
pub(crate) fn stat_in(root: BorrowedFd<'_>, rel: &Path) -> io::Result<Meta> {
    fstat(open_path_in(root, rel)?.as_fd())
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

/// The absolute path the kernel gives for an open file or directory (`readlink /proc/self/fd/N`).
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
/// Fails with `EINVAL` where the filesystem does not support the exchange, and where a test took
/// the exchange away to reach the fallback (a unit test on its thread; a crash test's child
/// process, with `crash-points`).
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
    #[cfg(feature = "crash-points")]
    if crate::crash::exchange_unsupported() {
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
    #[cfg(test)]
    tests::record(|| tests::Call::Rename(fd_path(to_dir).unwrap_or_default().join(to)));
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
    #[cfg(test)]
    tests::record(|| tests::Call::Rename(fd_path(to_dir).unwrap_or_default().join(to)));
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
    #[cfg(test)]
    tests::record(|| tests::Call::Unlink(fd_path(dir).unwrap_or_default().join(name)));
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?)
}

/// `unlinkat(dir, name, 0)`, where a name that is already gone is fine.
pub(crate) fn unlink_if_exists(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<bool> {
    #[cfg(test)]
    tests::record(|| tests::Call::Unlink(fd_path(dir).unwrap_or_default().join(name)));
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

/// `openat(dir, name, O_RDWR | O_CREAT | O_NOFOLLOW, 0600)`: a lock file, made when missing,
/// never through a symlink.
pub(crate) fn open_lock(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
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

/// `openat(dir, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600)`: a file in `dir`'s filesystem
/// with no name, which a crash cannot leave behind (recovery frees it) until
/// [`link_unnamed`] gives it one. `None` where the filesystem cannot make one (`EOPNOTSUPP`,
/// `EISDIR` or `EINVAL` from kernels or filesystems without `O_TMPFILE`).
#[doc(alias = "O_TMPFILE")]
pub(crate) fn create_unnamed(dir: BorrowedFd<'_>) -> io::Result<Option<File>> {
    match rustix::fs::openat(
        dir,
        ".",
        OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    ) {
        Ok(fd) => Ok(Some(File::from(fd))),
        Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `linkat(fd, "", dir, name, AT_EMPTY_PATH)`: names a file made by [`create_unnamed`]; fails
/// with `EEXIST` when `name` is taken. Without `CAP_DAC_READ_SEARCH` the kernel refuses the
/// empty path; then the file is linked through its `/proc/self/fd` entry instead.
#[doc(alias = "linkat")]
pub(crate) fn link_unnamed(file: &File, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    match rustix::fs::linkat(file, "", dir, name, AtFlags::EMPTY_PATH) {
        Err(Errno::PERM | Errno::NOENT) => {
            let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(file));
            Ok(rustix::fs::linkat(
                CWD,
                path.as_str(),
                dir,
                name,
                AtFlags::SYMLINK_FOLLOW,
            )?)
        }
        linked => Ok(linked?),
    }
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

/// Every extended attribute of `fd`, by name (`flistxattr`, `fgetxattr`).
pub(crate) fn xattrs(fd: BorrowedFd<'_>) -> io::Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    let size = rustix::fs::flistxattr_query(fd)?;
    let mut names = vec![0u8; size];
    let len = rustix::fs::flistxattr(fd, &mut names)?;
    let mut all = BTreeMap::new();
    for name in names[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let size = rustix::fs::fgetxattr_query(fd, OsStr::from_bytes(name))?;
        let mut value = vec![0u8; size];
        let len = rustix::fs::fgetxattr(fd, OsStr::from_bytes(name), &mut value)?;
        value.truncate(len);
        all.insert(name.to_vec(), value);
    }
    Ok(all)
}

/// Copies every extended attribute of `from` onto `to` (`fsetxattr`).
pub(crate) fn copy_xattrs(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    for (name, value) in xattrs(from)? {
        rustix::fs::fsetxattr(to, OsStr::from_bytes(&name), &value, XattrFlags::empty())?;
    }
    Ok(())
}

/// `geteuid()`: the owner of the files this process creates.
pub(crate) fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// `fsync(fd)`: for a directory, makes its entries durable.
pub(crate) fn fsync(fd: BorrowedFd<'_>) -> io::Result<()> {
    #[cfg(test)]
    tests::record(|| tests::Call::Fsync(fd_path(fd).unwrap_or_default()));
    Ok(rustix::fs::fsync(fd)?)
}

/// `fdatasync(fd)` of every file, from a few threads at once: a filesystem's journal commits the
/// concurrent syncs together, where one after the other each would wait for a commit of its own.
/// Returns the key and error of a file that failed.
pub(crate) fn fdatasync_all<K: Copy + Send + Sync, F: AsFd + Sync>(
    files: &[(K, F)],
) -> Result<(), (K, io::Error)> {
    const THREADS: usize = 16;
    // Start the writeback of every file first (`POSIX_FADV_DONTNEED` writes dirty pages out
    // without waiting). Their blocks are then allocated together, in one journal transaction,
    // and the first `fdatasync` commits it for all; synced one by one, each file's allocation
    // would land in a transaction of its own. Only a hint: the `fdatasync`s below are what
    // make the files durable, so an error here changes nothing.
    for (_, file) in files {
        let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let first_error = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..THREADS.min(files.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((key, file)) = files.get(i) else {
                        break;
                    };
                    if let Err(e) = rustix::fs::fdatasync(file) {
                        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                        slot.get_or_insert((*key, e.into()));
                    }
                }
            });
        }
    });
    first_error
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .map_or(Ok(()), Err)
}

/// `pipe2(O_CLOEXEC)`, then `O_NONBLOCK` on the read end only: a program's output, read
/// without waiting, while the program writes to it as to any pipe.
pub(crate) fn output_pipe() -> io::Result<(File, OwnedFd)> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    rustix::fs::fcntl_setfl(&read, OFlags::NONBLOCK)?;
    Ok((File::from(read), write))
}

/// `kill(-pgid, SIGKILL)`: kills every process of a process group.
pub(crate) fn kill_process_group(pgid: u32) -> io::Result<()> {
    let pid = i32::try_from(pgid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    Ok(rustix::process::kill_process_group(
        pid,
        rustix::process::Signal::KILL,
    )?)
}

/// `fstatfs(fd)`: the type of the filesystem that holds `fd`, by name where it is one the
/// engine is certified on, else the magic number in hex.
pub(crate) fn filesystem_type(fd: BorrowedFd<'_>) -> io::Result<String> {
    const NAMES: [(u64, &str); 5] = [
        (0xef53, "ext4"), // ext2, ext3 and ext4 share the magic
        (0x9123_683e, "btrfs"),
        (0x5846_5342, "xfs"),
        (0x0102_1994, "tmpfs"),
        (0x794c_7630, "overlay"),
    ];
    #[allow(clippy::useless_conversion)] // `f_type`'s width differs between architectures
    let magic = u64::try_from(rustix::fs::fstatfs(fd)?.f_type).unwrap_or_default();
    Ok(NAMES
        .iter()
        .find(|(m, _)| *m == magic)
        .map_or_else(|| format!("{magic:#x}"), |(_, name)| (*name).to_owned()))
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
    use std::cell::{Cell, RefCell};
    use std::path::PathBuf;

    thread_local! {
        static EXCHANGE_UNSUPPORTED: Cell<bool> = const { Cell::new(false) };
        static CALLS: RefCell<Option<Vec<Call>>> = const { RefCell::new(None) };
    }

    /// A call whose order matters for durability, as a unit test records it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub(crate) enum Call {
        /// `fsync` of a directory (or file), by its path.
        Fsync(PathBuf),
        /// `unlinkat`, by the path of the name removed.
        Unlink(PathBuf),
        /// `renameat` or `renameat2(RENAME_NOREPLACE)`, by the path of the new name.
        Rename(PathBuf),
    }

    /// Starts recording this thread's [`Call`]s, or stops and returns them.
    pub(crate) fn record_calls(on: bool) -> Vec<Call> {
        CALLS.with(|c| c.replace(on.then(Vec::new)).unwrap_or_default())
    }

    pub(super) fn record(call: impl FnOnce() -> Call) {
        CALLS.with(|c| {
            if let Some(calls) = c.borrow_mut().as_mut() {
                calls.push(call());
            }
        });
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
