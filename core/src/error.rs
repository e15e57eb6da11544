//! Typed errors and the one table of error ids and exit codes.
//!
//! | id                 | exit | cause                                                          |
//! |--------------------|------|----------------------------------------------------------------|
//! | `E_POLICY`         | 10   | the request or the tree breaks policy (bad path, odd file type) |
//! | `E_OWNERSHIP`      | 20   | a link source is writable by others than root                   |
//! | `E_LOCKING`        | 30   | no lock manager, or the lock was not acquired in time           |
//! | `E_ATOMIC_SWAP`    | 40   | a swap step (temp link, exchange, rename, fsync) failed         |
//! | `E_EXDEV`          | 50   | the backup store is on another filesystem and copying is forbidden |
//! | `E_BACKUP_MISSING` | 60   | rollback found neither the backup nor the displaced object      |
//! | `E_RESTORE_FAILED` | 70   | rollback could not put the prior object back                    |
//! | `E_SMOKE`          | 80   | no smoke runner, or a swapped target failed its health check    |
//! | `E_DRIFT`          | 90   | the target was changed by someone else since the swap           |
//! | `E_RESCUE`         | 100  | no working rescue toolset survives the plan                     |
//! | `E_NO_SPACE`       | 110  | the filesystem or quota is full                                 |
//! | `E_READ_ONLY`      | 120  | the filesystem is mounted read-only                             |

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The stable identity of an error, as written in facts and matched by callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ErrorId {
    #[serde(rename = "E_POLICY")]
    Policy,
    #[serde(rename = "E_OWNERSHIP")]
    Ownership,
    #[serde(rename = "E_LOCKING")]
    Locking,
    #[serde(rename = "E_ATOMIC_SWAP")]
    AtomicSwap,
    #[serde(rename = "E_EXDEV")]
    Exdev,
    #[serde(rename = "E_BACKUP_MISSING")]
    BackupMissing,
    #[serde(rename = "E_RESTORE_FAILED")]
    RestoreFailed,
    #[serde(rename = "E_SMOKE")]
    Smoke,
    #[serde(rename = "E_DRIFT")]
    Drift,
    #[serde(rename = "E_RESCUE")]
    Rescue,
    #[serde(rename = "E_NO_SPACE")]
    NoSpace,
    #[serde(rename = "E_READ_ONLY")]
    ReadOnly,
}

impl ErrorId {
    /// Every id, in table order.
    pub const ALL: [ErrorId; 12] = [
        ErrorId::Policy,
        ErrorId::Ownership,
        ErrorId::Locking,
        ErrorId::AtomicSwap,
        ErrorId::Exdev,
        ErrorId::BackupMissing,
        ErrorId::RestoreFailed,
        ErrorId::Smoke,
        ErrorId::Drift,
        ErrorId::Rescue,
        ErrorId::NoSpace,
        ErrorId::ReadOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorId::Policy => "E_POLICY",
            ErrorId::Ownership => "E_OWNERSHIP",
            ErrorId::Locking => "E_LOCKING",
            ErrorId::AtomicSwap => "E_ATOMIC_SWAP",
            ErrorId::Exdev => "E_EXDEV",
            ErrorId::BackupMissing => "E_BACKUP_MISSING",
            ErrorId::RestoreFailed => "E_RESTORE_FAILED",
            ErrorId::Smoke => "E_SMOKE",
            ErrorId::Drift => "E_DRIFT",
            ErrorId::Rescue => "E_RESCUE",
            ErrorId::NoSpace => "E_NO_SPACE",
            ErrorId::ReadOnly => "E_READ_ONLY",
        }
    }

    /// The process exit code a command-line front end reports for this id.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorId::Policy => 10,
            ErrorId::Ownership => 20,
            ErrorId::Locking => 30,
            ErrorId::AtomicSwap => 40,
            ErrorId::Exdev => 50,
            ErrorId::BackupMissing => 60,
            ErrorId::RestoreFailed => 70,
            ErrorId::Smoke => 80,
            ErrorId::Drift => 90,
            ErrorId::Rescue => 100,
            ErrorId::NoSpace => 110,
            ErrorId::ReadOnly => 120,
        }
    }
}

impl fmt::Display for ErrorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an error id that is not in the table.
#[derive(Debug, thiserror::Error)]
#[error("unknown error id `{0}`")]
pub struct UnknownErrorId(pub String);

impl FromStr for ErrorId {
    type Err = UnknownErrorId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorId::ALL
            .into_iter()
            .find(|id| id.as_str() == s)
            .ok_or_else(|| UnknownErrorId(s.to_owned()))
    }
}
