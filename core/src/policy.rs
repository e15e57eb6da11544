//! What the engine requires before and after a commit.

use std::path::{Path, PathBuf};

use crate::rescue::RescueProfile;
use crate::tree::relative_destination;

/// How link destinations are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinkStyle {
    /// Relative to the link's directory (`../../opt/uutils/ls`): valid under any root.
    #[default]
    Relative,
    /// From the root (`/opt/uutils/ls`): valid only where the root is the system's `/`.
    Absolute,
}

impl LinkStyle {
    /// The destination of a link placed in `link_dir` that leads to `source`, both relative to
    /// the root.
    pub(crate) fn destination(self, link_dir: &Path, source: &Path) -> String {
        match self {
            LinkStyle::Relative => relative_destination(link_dir, source)
                .to_string_lossy()
                .into_owned(),
            LinkStyle::Absolute => format!("/{}", source.to_string_lossy()),
        }
    }
}

/// The rules of one engine. [`Policy::production`] is the default; every field is public so a
/// caller can start from a preset and change what it must.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Commit (and rollback) fail with `E_LOCKING` unless the engine has a lock.
    pub require_lock: bool,
    /// Commit fails with `E_RESCUE` unless a rescue toolset survives the plan and runs.
    pub require_rescue: bool,
    /// Commit fails with `E_SMOKE` unless the engine has a smoke runner.
    pub require_smoke: bool,
    /// A failed health check rolls the apply back.
    pub auto_rollback: bool,
    /// When the backup store is on another filesystem, copy the prior object there (reported
    /// as `degraded`) instead of failing with `E_EXDEV`.
    pub allow_degraded: bool,
    /// Link sources must be owned by root and not writable by group or others (`E_OWNERSHIP`).
    pub require_root_owned_sources: bool,
    pub link_style: LinkStyle,
    /// Keep sidecars and backups here rather than beside each target: in a directory of each
    /// root's own, mirroring its tree ([`crate::store_dir_for_root`]).
    pub backup_store: Option<PathBuf>,
    pub rescue: RescueProfile,
}

impl Policy {
    /// Every safeguard on: lock, rescue, health checks with automatic rollback, root-owned
    /// sources, degraded backups allowed but reported.
    pub fn production() -> Policy {
        Policy {
            require_lock: true,
            require_rescue: true,
            require_smoke: true,
            auto_rollback: true,
            allow_degraded: true,
            require_root_owned_sources: true,
            link_style: LinkStyle::Relative,
            backup_store: None,
            rescue: RescueProfile::default(),
        }
    }

    /// For development and tests: no lock, rescue or health check required. Checks that are
    /// given anyway (a lock, a smoke runner) still run, and automatic rollback stays on.
    pub fn permissive() -> Policy {
        Policy {
            require_lock: false,
            require_rescue: false,
            require_smoke: false,
            require_root_owned_sources: false,
            ..Policy::production()
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::production()
    }
}
