//! Why a work directory is refused or cannot be cleaned.

use std::io;
use std::path::PathBuf;

use crate::error::chain;
use crate::fixture::FixtureError;

#[derive(Debug, thiserror::Error)]
pub enum WorkDirError {
    #[error(
        "the work directory {} is a symlink; fsmatrix only uses a real directory (remove the link, or choose another --work-dir)",
        path.display()
    )]
    Symlink { path: PathBuf },

    #[error("the work directory {} is not a directory", path.display())]
    NotADirectory { path: PathBuf },

    #[error(
        "the work directory {} is owned by uid {uid} with mode {mode:04o}; it must be owned by uid {wanted_uid} \
         and writable by nobody else, or another user could plant what `fsmatrix clean` removes as \
         root (chown it and chmod 0700 it, or choose another --work-dir)",
        path.display()
    )]
    NotPrivate {
        path: PathBuf,
        uid: u32,
        mode: u32,
        wanted_uid: u32,
    },

    #[error(
        "the host's work dir is full: cannot {what} {}; free space there or choose another --work-dir",
        path.display()
    )]
    Full { what: &'static str, path: PathBuf },

    #[error("cannot {what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot sweep {}: {}", run.display(), chain(source))]
    Sweep { run: PathBuf, source: FixtureError },
}

impl WorkDirError {
    /// A work directory this machine must fix before fsmatrix uses it (not a fault of ours).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            WorkDirError::Symlink { .. }
                | WorkDirError::NotADirectory { .. }
                | WorkDirError::NotPrivate { .. }
                | WorkDirError::Full { .. }
        )
    }
}
