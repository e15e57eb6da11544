//! Reading the files fsmatrix takes as input: scenarios, golden transcripts, the requirements
//! file, a guarantees table to check, a list of built tests. Any of them can be something else
//! under its name, by mistake or on purpose: a FIFO (whose open waits for a writer, and no signal
//! ends that wait), a device (`/dev/zero` never ends; opening some, such as a watchdog, acts), or
//! a file too large to hold. Each is read only when it is a regular file, and never past a limit.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};

/// Why an input file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// It could not be opened or read (it is missing, unreadable, or the read failed).
    #[error("{0}")]
    Io(io::Error),
    /// It is not a regular file; `kind` says what it is (`a FIFO`).
    #[error("not a regular file ({kind})")]
    NotRegular { kind: &'static str },
    /// It holds more than `limit` bytes.
    #[error("the file is larger than {} KiB", limit / 1024)]
    TooLarge { limit: u64 },
    /// Its bytes are not UTF-8 text.
    #[error("not UTF-8 text")]
    NotUtf8,
}

impl ReadError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

/// The bytes of the regular file at `path` (symlinks followed), at most `limit` of them.
///
/// The path is opened with `O_PATH`, which neither waits on a FIFO nor runs a device's open, and
/// what it names is checked on that descriptor. Only a regular file is then opened for reading,
/// through the descriptor's `/proc/self/fd` entry: that is the same inode, whatever the path
/// names by then. The limit holds while reading, whatever the size said.
pub fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let io = |e: rustix::io::Errno| ReadError::Io(e.into());
    let handle =
        rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).map_err(io)?;
    let kind = FileType::from_raw_mode(rustix::fs::fstat(&handle).map_err(io)?.st_mode);
    if kind != FileType::RegularFile {
        return Err(ReadError::NotRegular {
            kind: describe(kind),
        });
    }
    let reopened = format!("/proc/self/fd/{}", handle.as_raw_fd());
    let file = File::from(
        rustix::fs::open(
            reopened.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io)?,
    );
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}

/// [`read_bytes`], as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    String::from_utf8(read_bytes(path, limit)?).map_err(|_| ReadError::NotUtf8)
}

/// What a file of `kind` is, in words.
fn describe(kind: FileType) -> &'static str {
    match kind {
        FileType::Directory => "a directory",
        FileType::Fifo => "a FIFO",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Socket => "a socket",
        // fstat follows no symlink: the path's own were followed by the open.
        FileType::RegularFile | FileType::Symlink | FileType::Unknown => "a special file",
    }
}
