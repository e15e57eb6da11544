//! Named crash points between the engine's durable steps (feature `crash-points` only).
//!
//! The engine calls [`reach`] at each point, with the target of the action it is working on; a
//! test process installs an observer that stops there (blocks until it is killed, or cuts the
//! filesystem's power first), or records every point reached. Without the feature this
//! module does not exist and the call sites compile to nothing.
//!
//! A crash test may also take `RENAME_EXCHANGE` away from the engine ([`set_exchange_unsupported`])
//! to stop it inside the hard-link fallback, which no filesystem the tests run on makes it take.
//!
//! Written here rather than with the `fail` crate: that crate's points are untyped strings that
//! cannot be listed, and it has had no release since 2022. The harness needs the exact list to
//! expand "every crash point" into trials.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

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

type Observer = Box<dyn Fn(CrashPoint, Option<&str>) + Send + Sync>;

static OBSERVER: OnceLock<Observer> = OnceLock::new();

/// Installs the process's one observer. It is called with the point and, for a point inside one
/// action, that action's target (relative to the root); plan-wide points (after the sidecars,
/// after the final sync) have none. Returns `false` if one was already installed.
pub fn set_observer(observer: impl Fn(CrashPoint, Option<&str>) + Send + Sync + 'static) -> bool {
    OBSERVER.set(Box::new(observer)).is_ok()
}

/// Names the environment variable that moves a crash point, for the harness's self-test that a
/// crash point reported in the wrong window fails its trials: `POINT=OTHER` reports `POINT`
/// where the engine reaches `OTHER` (right after `OTHER` itself), and no longer at its own place.
pub const MOVE_ENV: &str = "SWITCHYARD_CRASH_POINT_MOVE";

/// A point reported at another point's place instead of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moved {
    pub point: CrashPoint,
    pub to: CrashPoint,
}

/// The error of a [`MOVE_ENV`] value that is not `POINT=OTHER` with two distinct points.
#[derive(Debug, thiserror::Error)]
pub enum BadMove {
    #[error("expected `POINT=OTHER`, got `{0}`")]
    Form(String),
    #[error(transparent)]
    Point(#[from] UnknownCrashPoint),
    #[error("`{0}` cannot be moved onto itself")]
    Same(CrashPoint),
}

impl FromStr for Moved {
    type Err = BadMove;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (point, to) = s
            .split_once('=')
            .ok_or_else(|| BadMove::Form(s.to_owned()))?;
        let moved = Moved {
            point: point.trim().parse()?,
            to: to.trim().parse()?,
        };
        if moved.point == moved.to {
            return Err(BadMove::Same(moved.point));
        }
        Ok(moved)
    }
}

/// The move [`MOVE_ENV`] asks for, read once. A malformed value stops the process: a self-test
/// that meant to move a point must not silently run with none moved.
fn moved() -> Option<Moved> {
    static MOVED: OnceLock<Option<Moved>> = OnceLock::new();
    *MOVED.get_or_init(|| {
        let value = std::env::var(MOVE_ENV).ok()?;
        Some(
            value
                .parse()
                .unwrap_or_else(|e| panic!("{MOVE_ENV}={value}: {e}")),
        )
    })
}

/// Called by the engine at each point.
pub(crate) fn reach(point: CrashPoint, target: Option<&str>) {
    let Some(observer) = OBSERVER.get() else {
        return;
    };
    match moved() {
        Some(m) if m.point == point => {}
        Some(m) if m.to == point => {
            observer(point, target);
            observer(m.point, target);
        }
        _ => observer(point, target),
    }
}

static EXCHANGE_UNSUPPORTED: AtomicBool = AtomicBool::new(false);

/// Makes every `renameat2(RENAME_EXCHANGE)` of the engine in this process fail with `EINVAL`, as
/// on a filesystem without it, so that the swap takes its hard-link fallback. For a crash
/// test's child process, which plays one apply: the switch is process-wide.
pub fn set_exchange_unsupported(unsupported: bool) {
    EXCHANGE_UNSUPPORTED.store(unsupported, Ordering::SeqCst);
}

/// Whether [`set_exchange_unsupported`] took the exchange away.
pub(crate) fn exchange_unsupported() -> bool {
    EXCHANGE_UNSUPPORTED.load(Ordering::SeqCst)
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

    #[test]
    fn a_move_names_two_distinct_points() {
        let m: Moved = "apply.after_swap=apply.after_temp_link".parse().unwrap();
        assert_eq!(
            m,
            Moved {
                point: CrashPoint::ApplyAfterSwap,
                to: CrashPoint::ApplyAfterTempLink
            }
        );
        assert!(matches!(
            "apply.after_swap".parse::<Moved>(),
            Err(BadMove::Form(_))
        ));
        assert!(matches!(
            "apply.after_swap=apply.after_swap".parse::<Moved>(),
            Err(BadMove::Same(_))
        ));
        assert!(matches!(
            "apply.after_swap=nowhere".parse::<Moved>(),
            Err(BadMove::Point(_))
        ));
    }
}
