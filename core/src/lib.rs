//! Switchyard replaces files with symlinks and rolls back, safely, on real filesystems.
//!
//! The job: switch `/usr/bin/ls` from one implementation to another and back, without ever
//! leaving the target missing, restoring exactly what was there (a regular file with its bytes,
//! mode, owner and xattrs — the same inode; a symlink with its destination; or nothing), with
//! every step recorded in a JSONL audit trail whose canonical form is byte-stable.
//!
//! - Paths are [`SafePath`]s: a root plus a relative path; every directory is resolved inside
//!   the root with `openat2(RESOLVE_IN_ROOT)`, and final components are never followed.
//! - A [`Plan`] orders link and restore requests and gives them content-derived ids.
//! - [`Switchyard::apply`] is dry-run by default; a commit writes each backup sidecar durably
//!   first, then swaps with `renameat2(RENAME_EXCHANGE)`, syncing each directory once.
//! - [`Switchyard::rollback`] restores from the sidecars on disk, idempotently, refusing to
//!   clobber a target someone else changed ([`ErrorId::Drift`]).
//! - [`Policy`] decides the safeguards: lock ([`FileLock`]), rescue toolset, health checks
//!   ([`SmokeRunner`]) with automatic rollback, and backups in a store on another filesystem.
//! - [`HealthProfile`] checks real tools: per-target arguments and expected endings, with a
//!   built-in profile for coreutils; programs run through a [`ProgramRunner`].
//! - [`PlanStore`] records plans durably inside their root, so a later process can roll back or
//!   report one by its id ([`Switchyard::status`]) without being given the targets again.
//! - Facts go to a [`FactSink`]; [`Fact::canonical`] is the redacted form.
//! - With the `crash-points` feature (for test harnesses only), the engine names the points
//!   between its durable steps and lets an observer stop there; without it, that code does not
//!   exist (`scripts/check-feature-gate` shows it).
//!
//! Error ids and exit codes are listed in one table, in [`error`].
//!
//! ```
//! use std::fs;
//! use switchyard::{ApplyMode, Kind, LinkRequest, MemorySink, Plan, Policy, SafePath, Switchyard};
//!
//! let root = std::env::temp_dir().join(format!("switchyard-doc-{}", std::process::id()));
//! fs::create_dir_all(root.join("usr/bin"))?;
//! fs::create_dir_all(root.join("opt/uutils"))?;
//! fs::write(root.join("usr/bin/ls"), "GNU ls\n")?;
//! fs::write(root.join("opt/uutils/ls"), "uutils ls\n")?;
//!
//! // No lock, rescue toolset or health check required: a development policy.
//! let engine = Switchyard::new(Policy::permissive());
//! let plan = Plan::links([LinkRequest {
//!     source: SafePath::new(&root, "opt/uutils/ls")?,
//!     target: SafePath::new(&root, "usr/bin/ls")?,
//! }])?;
//! let mut facts = MemorySink::default();
//! let report = engine.apply(&plan, ApplyMode::Commit, &mut facts)?;
//! assert_eq!((report.actions[0].before, report.actions[0].after), (Kind::File, Kind::Symlink));
//! assert_eq!(fs::read_link(root.join("usr/bin/ls"))?, std::path::Path::new("../../opt/uutils/ls"));
//!
//! engine.rollback(&plan, Default::default(), &mut facts)?;
//! assert_eq!(fs::read(root.join("usr/bin/ls"))?, b"GNU ls\n");
//! # fs::remove_dir_all(&root)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

macro_rules! crash_point {
    ($point:ident) => {{
        #[cfg(feature = "crash-points")]
        $crate::crash::reach($crate::crash::CrashPoint::$point);
    }};
}

mod apply;
mod backup;
mod copy;
#[cfg(feature = "crash-points")]
pub mod crash;
mod engine;
pub mod error;
mod facts;
mod health_profile;
mod lock;
mod path;
mod plan;
mod policy;
mod process;
mod program;
mod prune;
mod record;
mod rescue;
mod rollback;
mod smoke;
mod state;
mod status;
mod swap;
mod sys;
mod tidy;
mod tree;

pub use apply::{ActionReport, ApplyReport};
pub use backup::{EngineFile, EngineName};
pub use engine::{ApplyMode, Switchyard};
pub use error::{Error, ErrorId};
pub use facts::{
    CANONICAL_TS, Decision, FACTS_SCHEMA, Fact, FactSink, JsonlSink, MemorySink, Reason, Stage,
    canonical_jsonl,
};
pub use health_profile::{Expect, HealthCheck, HealthProfile};
pub use lock::FileLock;
pub use path::SafePath;
pub use plan::{Action, ActionKind, LinkRequest, Plan, Request, RestoreRequest};
pub use policy::{LinkStyle, Policy};
pub use program::{HostRunner, Outcome, ProgramRunner, run_command};
pub use prune::PruneReport;
pub use record::{PLAN_RECORD_SCHEMA, PLANS_DIR, PlanRecord, PlanStore, RecordedRequest};
pub use rescue::RescueProfile;
pub use rollback::{RollbackOptions, RollbackReport};
pub use smoke::{CommandSmoke, SmokeRunner};
pub use state::Kind;
pub use status::{LinkState, TargetStatus};
pub use tidy::TidyReport;
