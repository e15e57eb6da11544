//! Deliberate defects for the harness's certification self-test (feature `defects` only).
//!
//! A certification harness is worth the bugs it catches. With this feature the engine carries
//! named defects, each the kind of mistake a reviewer would look for; one of them is switched on
//! for a whole process by [`ENV`] and the harness checks that the matrix fails. Without the
//! feature this module does not exist and every `defect!` hook is the constant `false`
//! (`scripts/check-feature-gate` shows it).

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// The environment variable that selects the process's one active defect, read once.
pub const ENV: &str = "SWITCHYARD_DEFECT";

/// A deliberate defect the engine can be built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Defect {
    /// Apply moves the prior object away before the new link is renamed in: the target is
    /// missing in between.
    ApplyUnlinkBeforeRename,
    /// Rollback unlinks the link before the prior object is renamed back.
    RollbackUnlinkBeforeRename,
    /// Apply does not sync the directories it swapped in.
    NoDirFsync,
    /// Apply publishes the sidecars after the swaps instead of before.
    SidecarAfterSwap,
    /// Apply writes each sidecar straight under its final name, with no unnamed or temporary
    /// file first: a crash can leave a sidecar whose bytes never reached the disk.
    SidecarInPlace,
    /// Any object of the prior's type counts as the prior (bytes, mode, owner not compared).
    TypeOnlyIdempotency,
    /// Rollback runs without taking the lock.
    RollbackWithoutLock,
    /// A failed health check rolls back even when the policy says `auto_rollback: false`.
    AutoRollbackIgnored,
    /// A rescue tool that exists but fails its probe still counts.
    RescueProbeIgnored,
    /// A restore request replaces the target whatever it now is.
    RestoreWithoutDriftCheck,
    /// A symlink prior copied to the backup store is copied as its destination's bytes.
    SymlinkPriorAsCopy,
    /// Directories are resolved without `RESOLVE_IN_ROOT`, and one that ends outside the root
    /// is not refused: absolute symlinks lead out.
    NoResolveInRoot,
    /// Apply treats a target that already is the requested link as work, backing it up again.
    BackupPlacedLinkAgain,
    /// Rollback reports a target it left unchanged as restored.
    ReportMiscounted,
    /// Where `RENAME_EXCHANGE` is unsupported, the link is renamed over the prior object without
    /// keeping it as a backup first.
    FallbackWithoutBackup,
}

impl Defect {
    /// Every defect, in the order the self-test tries them.
    pub const ALL: [Defect; 15] = [
        Defect::ApplyUnlinkBeforeRename,
        Defect::RollbackUnlinkBeforeRename,
        Defect::NoDirFsync,
        Defect::SidecarAfterSwap,
        Defect::SidecarInPlace,
        Defect::TypeOnlyIdempotency,
        Defect::RollbackWithoutLock,
        Defect::AutoRollbackIgnored,
        Defect::RescueProbeIgnored,
        Defect::RestoreWithoutDriftCheck,
        Defect::SymlinkPriorAsCopy,
        Defect::NoResolveInRoot,
        Defect::BackupPlacedLinkAgain,
        Defect::ReportMiscounted,
        Defect::FallbackWithoutBackup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Defect::ApplyUnlinkBeforeRename => "apply-unlink-before-rename",
            Defect::RollbackUnlinkBeforeRename => "rollback-unlink-before-rename",
            Defect::NoDirFsync => "no-dir-fsync",
            Defect::SidecarAfterSwap => "sidecar-after-swap",
            Defect::SidecarInPlace => "sidecar-in-place",
            Defect::TypeOnlyIdempotency => "type-only-idempotency",
            Defect::RollbackWithoutLock => "rollback-without-lock",
            Defect::AutoRollbackIgnored => "auto-rollback-ignored",
            Defect::RescueProbeIgnored => "rescue-probe-ignored",
            Defect::RestoreWithoutDriftCheck => "restore-without-drift-check",
            Defect::SymlinkPriorAsCopy => "symlink-prior-as-copy",
            Defect::NoResolveInRoot => "no-resolve-in-root",
            Defect::BackupPlacedLinkAgain => "backup-placed-link-again",
            Defect::ReportMiscounted => "report-miscounted",
            Defect::FallbackWithoutBackup => "fallback-without-backup",
        }
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// The error of parsing a defect name that is not in [`Defect::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown defect `{0}`")]
pub struct UnknownDefect(pub String);

impl FromStr for Defect {
    type Err = UnknownDefect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Defect::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| UnknownDefect(s.to_owned()))
    }
}

static SELECTED: OnceLock<Option<Defect>> = OnceLock::new();

/// Whether `defect` is the one [`ENV`] selected for this process.
///
/// An unknown name stops the process: an engine that silently ran without the defect it was
/// asked for would make the self-test prove nothing.
pub(crate) fn active(defect: Defect) -> bool {
    let selected = SELECTED.get_or_init(|| {
        std::env::var(ENV)
            .ok()
            .filter(|name| !name.is_empty())
            .map(|name| name.parse().unwrap_or_else(|e| panic!("{ENV}: {e}")))
    });
    *selected == Some(defect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        let mut names: Vec<_> = Defect::ALL.iter().map(|d| d.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Defect::ALL.len());
        for defect in Defect::ALL {
            assert_eq!(defect.name().parse::<Defect>().unwrap(), defect);
        }
        assert!("no-such-defect".parse::<Defect>().is_err());
    }
}
