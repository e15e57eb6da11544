//! Named crash points between the engine's durable steps (feature `crash-points` only).
//!
//! The engine calls [`reach`] at each point; a test process installs an observer that stops there
//! (blocks until it is killed, or cuts the filesystem's power first). Without the feature this
//! module does not exist and the call sites compile to nothing.
//!
//! Written here rather than with the `fail` crate: that crate's points are untyped strings that
//! cannot be listed, and it has had no release since 2022. The harness needs the exact list to
//! expand "every crash point" into trials.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// Which operation a crash point belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Apply,
    Rollback,
}

/// A point between two durable steps of apply or rollback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CrashPoint {
    /// Every sidecar of the plan is written and synced; no target has changed.
    ApplyAfterSidecars,
    /// The temporary link sits beside the target.
    ApplyAfterTempLink,
    /// The target is the new link; for a prior object it sits under the temporary name.
    ApplyAfterSwap,
    /// The prior object is under its backup name.
    ApplyAfterBackupRename,
    /// The touched directories are synced; the apply is durable.
    ApplyAfterFsync,
    /// The prior object is back in place; the displaced link sits under the backup name.
    RollbackAfterRestore,
    /// The displaced link is removed.
    RollbackAfterUnlink,
    /// The touched directories are synced; the rollback is durable.
    RollbackAfterFsync,
}

impl CrashPoint {
    /// Every crash point, in the order an apply and then a rollback reaches them.
    pub const ALL: [CrashPoint; 8] = [
        CrashPoint::ApplyAfterSidecars,
        CrashPoint::ApplyAfterTempLink,
        CrashPoint::ApplyAfterSwap,
        CrashPoint::ApplyAfterBackupRename,
        CrashPoint::ApplyAfterFsync,
        CrashPoint::RollbackAfterRestore,
        CrashPoint::RollbackAfterUnlink,
        CrashPoint::RollbackAfterFsync,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::ApplyAfterSidecars => "apply.after_sidecars",
            CrashPoint::ApplyAfterTempLink => "apply.after_temp_link",
            CrashPoint::ApplyAfterSwap => "apply.after_swap",
            CrashPoint::ApplyAfterBackupRename => "apply.after_backup_rename",
            CrashPoint::ApplyAfterFsync => "apply.after_fsync",
            CrashPoint::RollbackAfterRestore => "rollback.after_restore",
            CrashPoint::RollbackAfterUnlink => "rollback.after_unlink",
            CrashPoint::RollbackAfterFsync => "rollback.after_fsync",
        }
    }

    pub fn phase(self) -> Phase {
        match self {
            CrashPoint::ApplyAfterSidecars
            | CrashPoint::ApplyAfterTempLink
            | CrashPoint::ApplyAfterSwap
            | CrashPoint::ApplyAfterBackupRename
            | CrashPoint::ApplyAfterFsync => Phase::Apply,
            CrashPoint::RollbackAfterRestore
            | CrashPoint::RollbackAfterUnlink
            | CrashPoint::RollbackAfterFsync => Phase::Rollback,
        }
    }

    /// The points of one phase, in the order the engine reaches them.
    pub fn of_phase(phase: Phase) -> impl Iterator<Item = CrashPoint> {
        CrashPoint::ALL
            .into_iter()
            .filter(move |p| p.phase() == phase)
    }
}

impl fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// The error of parsing a crash point name that is not in [`CrashPoint::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown crash point `{0}`")]
pub struct UnknownCrashPoint(pub String);

impl FromStr for CrashPoint {
    type Err = UnknownCrashPoint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CrashPoint::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownCrashPoint(s.to_owned()))
    }
}

impl Serialize for CrashPoint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for CrashPoint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

type Observer = Box<dyn Fn(CrashPoint) + Send + Sync>;

static OBSERVER: OnceLock<Observer> = OnceLock::new();

/// Installs the process's one observer. Returns `false` if one was already installed.
pub fn set_observer(observer: impl Fn(CrashPoint) + Send + Sync + 'static) -> bool {
    OBSERVER.set(Box::new(observer)).is_ok()
}

/// Called by the engine at each point.
pub(crate) fn reach(point: CrashPoint) {
    if let Some(observer) = OBSERVER.get() {
        observer(point);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        let mut names: Vec<_> = CrashPoint::ALL.iter().map(|p| p.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CrashPoint::ALL.len());
        for point in CrashPoint::ALL {
            assert_eq!(point.name().parse::<CrashPoint>().unwrap(), point);
            assert!(point.name().starts_with(match point.phase() {
                Phase::Apply => "apply.",
                Phase::Rollback => "rollback.",
            }));
        }
    }
}
