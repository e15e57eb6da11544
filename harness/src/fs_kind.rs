//! The filesystems a run can certify, and what each needs from the machine.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One column of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    Ext4,
    Btrfs,
    Xfs,
    Tmpfs,
    Overlay,
}

/// A program the harness runs, and the Debian package that ships it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tool {
    pub program: &'static str,
    pub package: &'static str,
}

impl FsKind {
    /// Every filesystem, in report order. The default scope of a run.
    pub const ALL: [FsKind; 5] = [
        FsKind::Ext4,
        FsKind::Btrfs,
        FsKind::Xfs,
        FsKind::Tmpfs,
        FsKind::Overlay,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FsKind::Ext4 => "ext4",
            FsKind::Btrfs => "btrfs",
            FsKind::Xfs => "xfs",
            FsKind::Tmpfs => "tmpfs",
            FsKind::Overlay => "overlay",
        }
    }

    /// The mkfs program that formats this filesystem's image. Overlay is assembled over an ext4
    /// image; tmpfs has no image.
    pub fn mkfs(self) -> Option<Tool> {
        match self {
            FsKind::Ext4 | FsKind::Overlay => Some(Tool {
                program: "mkfs.ext4",
                package: "e2fsprogs",
            }),
            FsKind::Btrfs => Some(Tool {
                program: "mkfs.btrfs",
                package: "btrfs-progs",
            }),
            FsKind::Xfs => Some(Tool {
                program: "mkfs.xfs",
                package: "xfsprogs",
            }),
            FsKind::Tmpfs => None,
        }
    }

    /// Whether the filesystem sits on a block device of its own, whose writes can be recorded
    /// (recorded crash trials). tmpfs has none; overlay writes through to another filesystem.
    pub fn is_block(self) -> bool {
        matches!(self, FsKind::Ext4 | FsKind::Btrfs | FsKind::Xfs)
    }

    /// Whether `FS_IOC_SHUTDOWN` can cut power to this filesystem (power-cut crash trials).
    pub fn supports_shutdown(self) -> bool {
        matches!(self, FsKind::Ext4 | FsKind::Xfs)
    }
}

impl fmt::Display for FsKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The error of parsing a filesystem name.
#[derive(Debug, thiserror::Error)]
#[error("unknown filesystem `{0}` (expected one of: ext4, btrfs, xfs, tmpfs, overlay)")]
pub struct UnknownFs(pub String);

impl FromStr for FsKind {
    type Err = UnknownFs;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FsKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownFs(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in FsKind::ALL {
            assert_eq!(kind.as_str().parse::<FsKind>().unwrap(), kind);
        }
        assert!("ext3".parse::<FsKind>().is_err());
    }
}
