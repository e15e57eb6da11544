//! Why a work directory is refused or cannot be cleaned.

use std::io;
use std::path::{Path, PathBuf};

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
         root (chown it and `chmod 700` it, or choose another --work-dir)",
        path.display()
    )]
    NotPrivate {
        path: PathBuf,
        uid: u32,
        mode: u32,
        wanted_uid: u32,
    },

    #[error(
        "the work directory {} has mode {mode:04o}; fsmatrix keeps its runs where only their owner \
         can look (mode 0700) and changes the mode of no directory it did not make: `chmod 700 {}`, \
         or choose another --work-dir",
        path.display(),
        path.display()
    )]
    NotMode700 { path: PathBuf, mode: u32 },

    #[error(
        "the work directory {} is below {}, which {fault}: its owner could move the work \
         directory away while `fsmatrix clean` works in it as root, and make it unmount and \
         delete another directory. Every directory above the work directory must be owned by \
         root and writable by nobody else (a sticky one like /tmp is fine): {}, or choose another \
         --work-dir (the default /var/tmp/fsmatrix qualifies)",
        path.display(),
        ancestor.display(),
        fault.fix(ancestor)
    )]
    UnsafeAncestor {
        path: PathBuf,
        ancestor: PathBuf,
        fault: AncestorFault,
    },

    #[error(
        "the work directory {} was moved or replaced while it was being checked; run again",
        path.display()
    )]
    Moved { path: PathBuf },

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
                | WorkDirError::NotMode700 { .. }
                | WorkDirError::UnsafeAncestor { .. }
                | WorkDirError::Moved { .. }
                | WorkDirError::Full { .. }
        )
    }
}

/// What lets someone other than root change a directory above the work directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AncestorFault {
    OwnedBy {
        uid: u32,
    },
    /// Writable by its group or by others, and not sticky.
    Writable {
        mode: u32,
    },
}

impl AncestorFault {
    /// The fault of a directory with this owner and mode, if any; `uid` runs fsmatrix (its own
    /// directories are as safe as root's).
    pub(super) fn of(owner: u32, mode: u32, uid: u32) -> Option<AncestorFault> {
        let mode = mode & 0o7777;
        if owner != 0 && owner != uid {
            Some(AncestorFault::OwnedBy { uid: owner })
        } else if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            Some(AncestorFault::Writable { mode })
        } else {
            None
        }
    }

    /// The command that removes the fault.
    fn fix(&self, dir: &Path) -> String {
        match self {
            AncestorFault::OwnedBy { .. } => format!("`chown root {}`", dir.display()),
            AncestorFault::Writable { .. } => format!("`chmod go-w {}`", dir.display()),
        }
    }
}

impl std::fmt::Display for AncestorFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AncestorFault::OwnedBy { uid } => write!(f, "is owned by uid {uid}"),
            AncestorFault::Writable { mode } => {
                write!(f, "is writable by its group or others (mode {mode:04o})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_above_the_work_dir_is_safe_only_when_no_one_else_can_change_it() {
        let (root, me, nobody) = (0, 1000, 65534);
        for (owner, mode) in [(root, 0o755), (root, 0o700), (me, 0o755), (root, 0o1777)] {
            assert_eq!(AncestorFault::of(owner, 0o40000 | mode, me), None);
        }
        assert_eq!(
            AncestorFault::of(nobody, 0o755, me),
            Some(AncestorFault::OwnedBy { uid: nobody })
        );
        // Sticky or not, someone else's directory is theirs to rename things in.
        assert_eq!(
            AncestorFault::of(nobody, 0o1777, root),
            Some(AncestorFault::OwnedBy { uid: nobody })
        );
        for mode in [0o775, 0o757, 0o777, 0o2775] {
            assert_eq!(
                AncestorFault::of(root, mode, root),
                Some(AncestorFault::Writable { mode })
            );
        }
    }
}
