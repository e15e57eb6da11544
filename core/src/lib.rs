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
//! - [`Switchyard::apply`] is dry-run by default (a dry run warns of every gate a commit would
//!   fail); a commit writes each backup sidecar durably first, then swaps with
//!   `renameat2(RENAME_EXCHANGE)`, syncing each directory once.
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
//!   between its durable steps (with the target of the action at hand) and lets an observer
//!   stop there; without it, that code does not exist (`scripts/check-feature-gate` shows it).
//! - With the `defects` feature (for the harness's certification self-test only), the engine
//!   carries named deliberate defects, one selectable per process; without it they do not exist.
//!
//! Error ids and exit codes are listed in one table, in [`error`].
//!
//! # History
//!
//! Each target has a history: a stack of **generations**, numbered 1, 2, 3… in the directory
//! that holds its backups. A generation is one swap by one plan: its sidecar records the plan
//! id, the prior object (kept under the generation's backup name) and what the swap placed. A
//! generation is **live** while its swap is in effect: the target is what it placed (under any
//! newer live generation) and its prior object is still kept. Plans that link the same target
//! in turn (A, then B, then A again) stack live generations; the bottom one keeps the original.
//!
//! - **Rollback** of a plan undoes that plan's newest live generation of each target. It
//!   restores or fails loudly, never a silent success:
//!   - a generation under another plan's live one is refused, forced or not (`E_DRIFT`,
//!     naming the plan to roll back first: out of order, that plan's rollback would put its
//!     prior link over the original);
//!   - a target that is no longer what the plan placed is drift (`E_DRIFT`, every backup
//!     kept), even when it equals the prior object byte for byte (a package reinstall) while
//!     the original inode is kept;
//!   - a copy in a store on another filesystem is never the original inode: a target equal to
//!     it in bytes, mode, owner and extended attributes is taken for the prior object (the
//!     original left in place by a power cut before the swap was durable, or a reinstall that
//!     lost nothing the copy kept), and the copy goes;
//!   - a kept backup without its sidecar is `E_BACKUP_MISSING`.
//!
//!   A plan whose generation was already undone is a no-op (`idempotent_noop`, or
//!   `already_rolled_back` once the target has moved on). The sidecar stays after a restore;
//!   only the backup goes (tidy removes it later).
//! - A **failed commit** undoes its swaps and, once the targets are durably back, removes the
//!   sidecars it wrote: nothing of it is left but the audit trail. An original that could not
//!   be put back keeps its sidecar (`E_RESTORE_FAILED` says where it is).
//! - A plan with **no generation** of a target did not change it (`not_changed_by_plan`),
//!   unless the target is the plan's link. Then only a live generation of another plan
//!   accounts for the link: this plan's apply found it in place and recorded nothing
//!   (`already_linked`). Without one, a link found in place looks like a lost record (sidecar
//!   and backup deleted) or one the root's path does not lead to (the store knows a root by
//!   its path; a bind mount or chroot view of it is another root): `E_BACKUP_MISSING`, naming
//!   the directory searched. Forced, the link stays, with a `warn` fact.
//! - **Prune** removes old generations, keeping the newest `keep` and every generation a
//!   rollback still needs: live ones and any that still keeps the object its swap replaced. So
//!   it never drops the only copy of an original that is replaced, and what it removes was
//!   already undone.
//! - The engine removes only files it provably made, in rollback, prune, tidy and a failed
//!   apply alike: a file of the tree under one of its names makes the operation fail naming it
//!   (`E_POLICY`), and stays. Proof is what the file holds: a sidecar is the engine's record
//!   of that swap; a displaced link or a backup is what the swap placed or replaced; a copy
//!   into or out of a store on another filesystem is the object, or (interrupted) a prefix of
//!   its bytes while the object is whole elsewhere.
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

/// `crash_point!(P)` for a plan-wide point, `crash_point!(P, target)` for a point inside the
/// action on `target` (its path relative to the root). Nothing without `crash-points`.
macro_rules! crash_point {
    ($point:ident) => {{
        #[cfg(feature = "crash-points")]
        $crate::crash::reach($crate::crash::CrashPoint::$point, None);
    }};
    ($point:ident, $target:expr) => {{
        #[cfg(feature = "crash-points")]
        $crate::crash::reach($crate::crash::CrashPoint::$point, Some($target));
    }};
}

// A deliberate defect's hook: `true` only when the harness selected that defect, and the
// constant `false` in every build without the `defects` feature.
macro_rules! defect {
    ($defect:ident) => {{
        #[cfg(feature = "defects")]
        let active = $crate::defect::active($crate::defect::Defect::$defect);
        #[cfg(not(feature = "defects"))]
        let active = false;
        active
    }};
}

mod apply;
mod backup;
mod copy;
#[cfg(feature = "crash-points")]
pub mod crash;
#[cfg(feature = "defects")]
pub mod defect;
mod engine;
pub mod error;
mod facts;
mod health_profile;
mod history;
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
mod store;
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
pub use lock::{FileLock, LockGuard};
pub use path::SafePath;
pub use plan::{Action, ActionKind, LinkRequest, Plan, Request, RestoreRequest};
pub use policy::{LinkStyle, Policy};
pub use process::{CheckFailure, run_command};
pub use program::{HostRunner, Outcome, ProgramRun, ProgramRunner};
pub use prune::PruneReport;
pub use record::{PLAN_RECORD_SCHEMA, PLANS_DIR, PlanRecord, PlanStore, RecordedRequest, Records};
pub use rescue::RescueProfile;
pub use rollback::{RollbackOptions, RollbackReport};
pub use smoke::{CommandSmoke, SmokeRunner};
pub use state::Kind;
pub use status::{LinkState, TargetStatus};
pub use store::store_dir_for_root;
pub use tidy::TidyReport;
