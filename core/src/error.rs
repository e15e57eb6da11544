//! Typed errors and the one table of error ids and exit codes.
//!
//! | id                 | exit | cause                                                          |
//! |--------------------|------|----------------------------------------------------------------|
//! | `E_POLICY`         | 10   | the request or the tree breaks policy (bad path, odd file type, a file of the tree under one of the engine's names, no such plan) |
//! | `E_OWNERSHIP`      | 20   | a link source is writable by others than root                   |
//! | `E_LOCKING`        | 30   | no lock manager, or the lock was not acquired in time           |
//! | `E_ATOMIC_SWAP`    | 40   | a swap step (temp link, exchange, rename, fsync) failed         |
//! | `E_EXDEV`          | 50   | the backup store is on another filesystem and copying is forbidden |
//! | `E_BACKUP_MISSING` | 60   | rollback found neither the backup nor the displaced object, or a backup lost its sidecar, or the plan's link with no record of the plan's change to it, or a damaged sidecar |
//! | `E_RESTORE_FAILED` | 70   | rollback could not put the prior object back, or a failed apply could not undo itself (the error names the target and where the original is kept; its sidecar stays, so a later rollback restores it) |
//! | `E_SMOKE`          | 80   | no smoke runner, or a swapped target failed its health check    |
//! | `E_DRIFT`          | 90   | the target is not what the swap placed: someone else changed it (even to a copy equal to the prior object), it changed between preflight and the swap, or a later plan's swap covers it |
//! | `E_RESCUE`         | 100  | no working rescue toolset survives the plan                     |
//! | `E_NO_SPACE`       | 110  | the filesystem or quota is full                                 |
//! | `E_READ_ONLY`      | 120  | the filesystem is mounted read-only                             |
//! | `E_AUDIT`          | 130  | the audit trail could not be written (the operation still ran to a safe end — undo, health check, automatic rollback — and the error carries its own outcome); or a plan record could not be written or read, or is damaged (the sidecars still tell what was swapped) |

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::process::CheckFailure;

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
    #[serde(rename = "E_AUDIT")]
    Audit,
}

impl ErrorId {
    /// Every id, in table order.
    pub const ALL: [ErrorId; 13] = [
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
        ErrorId::Audit,
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
            ErrorId::Audit => "E_AUDIT",
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
            ErrorId::Audit => 130,
        }
    }
}

impl fmt::Display for ErrorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
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

/// Which step of a swap or restore an I/O error came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    ResolveParent,
    Inspect,
    WriteSidecar,
    ReadSidecar,
    TempLink,
    Exchange,
    Rename,
    CopyBackup,
    Unlink,
    Sync,
    WritePlanRecord,
    ReadPlanRecord,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::ResolveParent => "resolving the parent directory",
            Step::Inspect => "inspecting",
            Step::WriteSidecar => "writing the backup sidecar",
            Step::ReadSidecar => "reading the backup sidecar",
            Step::TempLink => "creating the temporary link",
            Step::Exchange => "exchanging",
            Step::Rename => "renaming into place",
            Step::CopyBackup => "copying the prior object into the backup store",
            Step::Unlink => "removing",
            Step::Sync => "syncing",
            Step::WritePlanRecord => "recording the plan",
            Step::ReadPlanRecord => "reading the plan record",
        })
    }
}

/// Everything that can go wrong in the engine. [`Error::id`] gives the stable [`ErrorId`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("path `{path}` is not allowed: {reason}")]
    UnsafePath { path: PathBuf, reason: &'static str },

    #[error("every request of a plan must share one root: `{first}` and `{other}` differ")]
    MixedRoots { first: PathBuf, other: PathBuf },

    #[error("a plan needs at least one request")]
    EmptyPlan,

    #[error("`{target}` appears in more than one request of the plan")]
    DuplicateTarget { target: String },

    #[error("cannot open the root directory `{root}`")]
    OpenRoot {
        root: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "`{target}` is a {found}; only regular files, symlinks and absent targets can be swapped"
    )]
    UnsupportedKind { target: String, found: &'static str },

    #[error(
        "link source `{source_path}` is the target `{target}` itself, or leads to it; the link would point at itself"
    )]
    SourceIsTarget { source_path: String, target: String },

    #[error("link source `{source_path}` {problem}; a link to it would be broken")]
    BadSource {
        source_path: String,
        problem: &'static str,
    },

    #[error(
        "link source `{source_path}` is owned by uid {uid} with mode {mode:04o}: \
         only root may be able to change what the link runs (chown root and chmod go-w, or use a permissive policy)"
    )]
    SourceOwnership {
        source_path: String,
        uid: u32,
        mode: u32,
    },

    #[error(
        "commit needs a lock manager under this policy; give the engine a lock file (or use a policy that allows unlocked commits)"
    )]
    NoLockManager,

    #[error("lock `{path}` is held by another process; gave up after {waited_ms} ms")]
    LockTimeout { path: PathBuf, waited_ms: u64 },

    #[error("cannot use lock file `{path}`")]
    LockFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{step} `{target}` failed")]
    Io {
        target: String,
        step: Step,
        #[source]
        source: io::Error,
    },

    /// Moving (or, without `RENAME_EXCHANGE`, hard-linking) the prior object to its backup name
    /// failed.
    #[error(
        "moving the prior object of `{target}` to its backup name `{backup}`{} failed",
        in_the_store(*.in_store)
    )]
    BackupRename {
        target: String,
        /// Relative to the root beside the target; absolute in the backup store.
        backup: String,
        in_store: bool,
        #[source]
        source: io::Error,
    },

    #[error(
        "`{target}` appeared while it was being created; another process raced the swap, and it was left alone"
    )]
    Raced { target: String },

    #[error(
        "the backup store is on another filesystem than `{target}` and policy forbids the degraded copy \
         (allow degraded backups, or put the store on the target's filesystem)"
    )]
    CrossFilesystem { target: String },

    #[error(
        "`{path}`{} carries one of the engine's names but the engine did not make it; \
         it was left alone: move it away, then try again",
        in_the_store(*.in_store)
    )]
    ForeignFile {
        /// Relative to the root; absolute in the backup store, where a path relative to the
        /// store would read as one of the root's.
        path: String,
        in_store: bool,
    },

    #[error("no backup of `{target}` exists ({sidecar}); nothing can be restored")]
    NoBackup { target: String, sidecar: String },

    #[error("the backup of `{target}` is gone or altered: expected {expected} at `{backup}`")]
    BackupMissing {
        target: String,
        backup: String,
        expected: String,
    },

    #[error(
        "the backup `{backup}` of `{target}` has lost its sidecar, so which plan placed it and \
         what it restores is unknown; nothing was changed: restore it by hand"
    )]
    SidecarMissing { target: String, backup: String },

    /// Rollback found the plan's link at `target` and no record of the plan's change to it: with
    /// nothing to restore from, success would be a lie.
    #[error(
        "`{target}` is this plan's link, but `{searched}` holds no record of the plan's change to \
         it: {}; nothing was changed. If the link was already in place when the plan was \
         applied, roll back with force to leave it as it is",
        no_record_causes(*.in_store)
    )]
    NoRecord {
        target: String,
        /// The directory searched for the target's sidecars, on the host.
        searched: PathBuf,
        /// Whether that directory is in the backup store.
        in_store: bool,
    },

    #[error("the sidecar `{sidecar}` is unreadable: {reason}")]
    BadSidecar { sidecar: String, reason: String },

    #[error("restoring `{target}` failed while {step}")]
    Restore {
        target: String,
        step: Step,
        #[source]
        source: io::Error,
    },

    #[error(
        "the original of `{target}` is kept as `{kept}` beside it: the swap failed ({cause}) and \
         putting the original back failed too ({undo}); its sidecar is kept, so rolling back the \
         plan restores it"
    )]
    Stranded {
        target: String,
        kept: String,
        cause: Box<Error>,
        undo: io::Error,
    },

    #[error(
        "{cause}; undoing the apply failed too, so part of it stays in place ({undo}); the \
         sidecars of what stays are kept, so rolling back the plan finishes the undo"
    )]
    UndoFailed { cause: Box<Error>, undo: Box<Error> },

    #[error(
        "`{target}` was changed by someone else since the swap (it is now {found}); \
         it was left untouched. Inspect it, then roll back with force to replace it"
    )]
    Drift { target: String, found: String },

    #[error(
        "`{target}` was replaced by {found} since the swap, which rollback never removes, even forced; \
         move it away, then roll back again"
    )]
    DriftNotReplaceable { target: String, found: String },

    /// A later plan's generation stands over this plan's: restoring under it, even forced, would
    /// put this plan's prior object where that plan's rollback later expects its own link, and
    /// that rollback would then overwrite the original.
    #[error(
        "`{target}` holds {found}, placed later by plan {later}; roll that plan back first \
         (rollback never reorders plans, even forced)"
    )]
    Covered {
        target: String,
        found: String,
        later: Uuid,
    },

    #[error(
        "commit needs a smoke runner under this policy; give the engine one (or use a policy that does not require health checks)"
    )]
    NoSmokeRunner,

    #[error("health check of `{target}` failed: {failure}")]
    Smoke {
        target: String,
        failure: CheckFailure,
    },

    #[error("no working rescue toolset survives this plan: {detail}")]
    Rescue { detail: String },

    /// The sink failed. The engine still finished its own work (undo, health check, automatic
    /// rollback); `outcome` is how that ended: `None` for success, or the engine's own error.
    #[error("cannot write the audit trail; {}", describe_outcome(.outcome.as_deref()))]
    AuditTrail {
        #[source]
        source: io::Error,
        outcome: Option<Box<Error>>,
    },

    #[error("the plan record `{record}` is unusable: {reason}")]
    BadPlanRecord { record: String, reason: String },

    #[error("no recorded plan matches `{request}` (`switchyard plans` lists them)")]
    UnknownPlan { request: String },

    #[error("`{request}` matches more than one recorded plan: {matches}; give more of the id")]
    AmbiguousPlan { request: String, matches: String },
}

impl Error {
    /// The stable id of this error. I/O errors are classified by their errno, never by text.
    pub fn id(&self) -> ErrorId {
        match self {
            Error::UnsafePath { .. }
            | Error::MixedRoots { .. }
            | Error::EmptyPlan
            | Error::DuplicateTarget { .. }
            | Error::UnsupportedKind { .. }
            | Error::BadSource { .. }
            | Error::SourceIsTarget { .. }
            | Error::ForeignFile { .. }
            | Error::UnknownPlan { .. }
            | Error::AmbiguousPlan { .. } => ErrorId::Policy,
            Error::OpenRoot { source, .. } => errno_id(source, ErrorId::Policy),
            Error::SourceOwnership { .. } => ErrorId::Ownership,
            Error::NoLockManager | Error::LockTimeout { .. } | Error::LockFile { .. } => {
                ErrorId::Locking
            }
            Error::Io { source, step, .. } => errno_id(
                source,
                match step {
                    Step::ResolveParent => ErrorId::Policy,
                    // A plan record is the engine's account of a commit, like the audit trail;
                    // no swap step failed.
                    Step::WritePlanRecord | Step::ReadPlanRecord => ErrorId::Audit,
                    _ => ErrorId::AtomicSwap,
                },
            ),
            Error::BackupRename { source, .. } => errno_id(source, ErrorId::AtomicSwap),
            Error::Raced { .. } => ErrorId::AtomicSwap,
            Error::CrossFilesystem { .. } => ErrorId::Exdev,
            Error::NoBackup { .. }
            | Error::BackupMissing { .. }
            | Error::BadSidecar { .. }
            | Error::SidecarMissing { .. }
            | Error::NoRecord { .. } => ErrorId::BackupMissing,
            Error::Restore { source, .. } => errno_id(source, ErrorId::RestoreFailed),
            Error::Stranded { .. } | Error::UndoFailed { .. } => ErrorId::RestoreFailed,
            Error::Drift { .. } | Error::DriftNotReplaceable { .. } | Error::Covered { .. } => {
                ErrorId::Drift
            }
            Error::NoSmokeRunner | Error::Smoke { .. } => ErrorId::Smoke,
            Error::Rescue { .. } => ErrorId::Rescue,
            // A full or read-only filesystem under the sink is still an audit failure: the
            // engine's own state is what `outcome` reports.
            Error::AuditTrail { .. } => ErrorId::Audit,
            // A damaged record loses no backup (the sidecars are the truth), only the account.
            Error::BadPlanRecord { .. } => ErrorId::Audit,
        }
    }

    /// Shorthand for the process exit code of [`Error::id`].
    pub fn exit_code(&self) -> i32 {
        self.id().exit_code()
    }
}

fn describe_outcome(outcome: Option<&Error>) -> String {
    match outcome {
        None => "the operation itself succeeded and stands".to_owned(),
        Some(e) => format!("the operation itself failed with {}: {e}", e.id()),
    }
}

/// Says where a path shown in a message is, when it is not in the root.
fn in_the_store(in_store: bool) -> &'static str {
    if in_store { " in the backup store" } else { "" }
}

/// Why a link of the plan can have no record, and what to do about each cause.
fn no_record_causes(in_store: bool) -> &'static str {
    if in_store {
        "its sidecar and backup were deleted (put the original back by hand), or the plan was \
         applied through another path to this root, a bind mount or a chroot (the backup store \
         knows a root by its path: roll back through that path, or move the root's directory \
         in the store to this path's)"
    } else {
        "its sidecar and backup were deleted (put the original back by hand)"
    }
}

/// Full filesystems and read-only mounts have their own ids whatever step met them.
fn errno_id(err: &io::Error, otherwise: ErrorId) -> ErrorId {
    match err.raw_os_error().map(rustix::io::Errno::from_raw_os_error) {
        Some(rustix::io::Errno::NOSPC | rustix::io::Errno::DQUOT) => ErrorId::NoSpace,
        Some(rustix::io::Errno::ROFS) => ErrorId::ReadOnly,
        _ => otherwise,
    }
}
