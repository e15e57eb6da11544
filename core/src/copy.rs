//! The degraded path: copying an object into another filesystem when its inode cannot move.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{FileType, Mode, OFlags};

use crate::sys;

/// Copies the file or symlink at `from_dir/from` to `to_dir/to`, with its bytes, mode, owner
/// and extended attributes, synced before it gets its final name: it is written under `scratch`
/// first, so `to` never holds a partial copy. Neither `scratch` nor `to` may exist: whatever is
/// there fails the copy (`EEXIST`) and stays, since only the caller can tell an interrupted copy
/// of its own ([`is_interrupted_copy`]) from a file of someone else's.
pub(crate) fn copy_object(
    from_dir: BorrowedFd<'_>,
    from: &OsStr,
    to_dir: BorrowedFd<'_>,
    scratch: &OsStr,
    to: &OsStr,
) -> io::Result<()> {
    let meta =
        sys::lstat_at(from_dir, from)?.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
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

/// Whether `to_dir/scratch` is what [`copy_object`] of `from_dir/from` leaves under `scratch`,
/// finished or interrupted at any step: the symlink itself, or a regular file whose bytes are a
/// prefix of the file's, owned by this process or already by the file's owner, with the fresh
/// file's mode (no more than `0600`) or already the file's. Bytes that are a prefix of an object
/// kept whole elsewhere are no loss when removed; anything else may be someone's file.
pub(crate) fn is_interrupted_copy(
    from_dir: BorrowedFd<'_>,
    from: &OsStr,
    to_dir: BorrowedFd<'_>,
    scratch: &OsStr,
) -> io::Result<bool> {
    let (Some(whole), Some(part)) = (
        sys::lstat_at(from_dir, from)?,
        sys::lstat_at(to_dir, scratch)?,
    ) else {
        return Ok(false);
    };
    match (whole.file_type, part.file_type) {
        (FileType::Symlink, FileType::Symlink) => {
            Ok(sys::read_link_at(from_dir, from)? == sys::read_link_at(to_dir, scratch)?)
        }
        (FileType::RegularFile, FileType::RegularFile) => {
            let owner = part.uid == sys::effective_uid() || part.uid == whole.uid;
            let mode = part.mode & !0o600 == 0 || part.mode == whole.mode;
            if !owner || !mode || part.size > whole.size {
                return Ok(false);
            }
            is_prefix(
                &mut sys::open_read(to_dir, scratch)?,
                &mut sys::open_read(from_dir, from)?,
            )
        }
        _ => Ok(false),
    }
}

/// Whether every byte of `part` is the byte at the same offset of `whole`.
fn is_prefix(part: &mut File, whole: &mut File) -> io::Result<bool> {
    let (mut a, mut b) = (vec![0; 64 * 1024], vec![0; 64 * 1024]);
    loop {
        let n = part.read(&mut a)?;
        if n == 0 {
            return Ok(true);
        }
        match whole.read_exact(&mut b[..n]) {
            Ok(()) => {}
            // `whole` is shorter than `part`.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(e),
        }
        if a[..n] != b[..n] {
            return Ok(false);
        }
    }
}
