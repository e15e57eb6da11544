//! The degraded path: copying an object into another filesystem when its inode cannot move.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{FileType, Mode, OFlags};

use crate::sys;

/// Copies the file or symlink at `from_dir/from` to `to_dir/to`, with its bytes, mode, owner
/// and extended attributes, synced before it gets its final name: it is written under `scratch`
/// first, so `to` never holds a partial copy. `to` must not exist.
pub(crate) fn copy_object(
    from_dir: BorrowedFd<'_>,
    from: &OsStr,
    to_dir: BorrowedFd<'_>,
    scratch: &OsStr,
    to: &OsStr,
) -> io::Result<()> {
    let meta =
        sys::lstat_at(from_dir, from)?.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
    sys::unlink_if_exists(to_dir, scratch)?;
    match meta.file_type {
        FileType::Symlink if defect!(SymlinkPriorAsCopy) => {
            let mut src = File::from(rustix::fs::openat(
                from_dir,
                from,
                OFlags::RDONLY,
                Mode::empty(),
            )?);
            io::copy(&mut src, &mut sys::create_new(to_dir, scratch)?)?;
        }
        FileType::Symlink => {
            let dest = sys::read_link_at(from_dir, from)?;
            sys::symlink_at(&dest, to_dir, scratch)?;
        }
        FileType::RegularFile => {
            let mut src = sys::open_read(from_dir, from)?;
            let mut dst = sys::create_new(to_dir, scratch)?;
            io::copy(&mut src, &mut dst)?;
            sys::set_owner_and_mode(dst.as_fd(), meta.uid, meta.gid, meta.mode)?;
            sys::copy_xattrs(src.as_fd(), dst.as_fd())?;
            dst.sync_all()?;
        }
        _ => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
    }
    sys::rename_noreplace(to_dir, scratch, to_dir, to)
}
