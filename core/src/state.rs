//! What sits at a path: its kind, and the fingerprint that says whether it is still the same.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;

use rustix::fs::FileType;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::sys::{self, Meta};

/// The kind of object at a target, as facts report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Symlink,
    None,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::File => "file",
            Kind::Symlink => "symlink",
            Kind::None => "none",
        })
    }
}

/// An object's identity for swap and restore.
///
/// A file is fingerprinted by its bytes (sha256), mode, owner and size rather than by its inode
/// number: the rollback check "is this still the prior file" needs the content anyway, and inode
/// numbers would make sidecars differ between runs and filesystems.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum ObjectState {
    None,
    Symlink {
        dest: String,
    },
    File {
        mode: u32,
        uid: u32,
        gid: u32,
        size: u64,
        sha256: String,
    },
}

/// Why an object cannot be described as an [`ObjectState`].
#[derive(Debug)]
pub(crate) enum Unsupported {
    /// A directory, device, socket or fifo; carries a short name of what it is.
    Kind(&'static str),
    /// A symlink whose destination is not UTF-8 text.
    NonUtf8Link,
}

impl ObjectState {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            ObjectState::None => Kind::None,
            ObjectState::Symlink { .. } => Kind::Symlink,
            ObjectState::File { .. } => Kind::File,
        }
    }

    /// Reads what is at `dir/name` now, without following a final symlink.
    pub(crate) fn capture(
        dir: BorrowedFd<'_>,
        name: &OsStr,
    ) -> io::Result<Result<ObjectState, Unsupported>> {
        Self::capture_given(dir, name, sys::lstat_at(dir, name)?.as_ref())
    }

    /// [`ObjectState::capture`] with the `lstat` of `dir/name` already taken.
    pub(crate) fn capture_given(
        dir: BorrowedFd<'_>,
        name: &OsStr,
        meta: Option<&Meta>,
    ) -> io::Result<Result<ObjectState, Unsupported>> {
        match meta {
            None => Ok(Ok(ObjectState::None)),
            Some(meta) => Self::capture_with(dir, name, meta),
        }
    }

    fn capture_with(
        dir: BorrowedFd<'_>,
        name: &OsStr,
        meta: &Meta,
    ) -> io::Result<Result<ObjectState, Unsupported>> {
        Ok(match meta.file_type {
            FileType::Symlink => match sys::read_link_at(dir, name)?.into_string() {
                Ok(dest) => Ok(ObjectState::Symlink { dest }),
                Err(_) => Err(Unsupported::NonUtf8Link),
            },
            FileType::RegularFile => Ok(ObjectState::File {
                mode: meta.mode,
                uid: meta.uid,
                gid: meta.gid,
                size: meta.size,
                sha256: sha256_at(dir, name)?,
            }),
            other => Err(Unsupported::Kind(kind_name(other))),
        })
    }

    /// Whether `dir/name` is exactly this state now. Files are hashed only when kind, mode,
    /// owner and size already agree.
    pub(crate) fn is_at(&self, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<bool> {
        self.is_at_given(dir, name, sys::lstat_at(dir, name)?)
    }

    /// [`ObjectState::is_at`] with the `lstat` of `dir/name` already taken.
    pub(crate) fn is_at_given(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        meta: Option<Meta>,
    ) -> io::Result<bool> {
        Ok(match (self, meta) {
            (ObjectState::None, None) => true,
            (ObjectState::Symlink { dest }, Some(m)) if m.file_type == FileType::Symlink => {
                sys::read_link_at(dir, name)? == OsStr::new(dest)
            }
            (
                ObjectState::File {
                    mode,
                    uid,
                    gid,
                    size,
                    sha256,
                },
                Some(m),
            ) if m.file_type == FileType::RegularFile => {
                defect!(TypeOnlyIdempotency)
                    || m.mode == *mode
                        && m.uid == *uid
                        && m.gid == *gid
                        && m.size == *size
                        && sha256_at(dir, name)? == *sha256
            }
            _ => false,
        })
    }

    /// A short description for messages: "a regular file", "a symlink to `x`", "absent".
    pub(crate) fn describe(&self) -> String {
        match self {
            ObjectState::None => "absent".to_owned(),
            ObjectState::Symlink { dest } => format!("a symlink to `{dest}`"),
            ObjectState::File { mode, size, .. } => {
                format!("a regular file (mode {mode:04o}, {size} bytes)")
            }
        }
    }
}

/// Describes whatever is at `dir/name` for a message, including kinds the engine refuses.
pub(crate) fn describe_at(dir: BorrowedFd<'_>, name: &OsStr) -> String {
    match ObjectState::capture(dir, name) {
        Ok(Ok(state)) => state.describe(),
        Ok(Err(Unsupported::Kind(kind))) => format!("a {kind}"),
        Ok(Err(Unsupported::NonUtf8Link)) => "a symlink with a non-UTF-8 destination".to_owned(),
        Err(e) => format!("unreadable ({e})"),
    }
}

pub(crate) fn kind_name(file_type: FileType) -> &'static str {
    match file_type {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "object of unknown type",
    }
}

fn sha256_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<String> {
    let mut file = sys::open_read(dir, name)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    use super::*;

    /// A kind prints as the name it has in facts and sidecars.
    #[test]
    fn kinds_display_as_they_serialize() {
        for kind in [Kind::File, Kind::Symlink, Kind::None] {
            let wire = serde_json::to_string(&kind).unwrap();
            assert_eq!(wire, format!("\"{kind}\""));
        }
    }

    /// A symlink whose mode, owner and size are those of a recorded file is not that file, and
    /// is not opened to be hashed as one.
    #[test]
    fn a_symlink_is_not_a_file_of_the_same_mode_owner_and_size() {
        let dir = Path::new("/tmp/switchyard-unit-tests/state-symlink-as-file");
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir).unwrap();
        symlink("abcde", dir.join("ls")).unwrap();
        let meta = fs::symlink_metadata(dir.join("ls")).unwrap();
        let file = ObjectState::File {
            mode: 0o777,
            uid: std::os::unix::fs::MetadataExt::uid(&meta),
            gid: std::os::unix::fs::MetadataExt::gid(&meta),
            size: 5,
            sha256: "0".repeat(64),
        };
        let dir_fd = fs::File::open(dir).unwrap();
        let at = file.is_at(
            std::os::fd::AsFd::as_fd(&dir_fd),
            std::ffi::OsStr::new("ls"),
        );
        assert!(!at.unwrap());
    }
}
