//! From a scenario's policy and steps to the engine's policy, engine and plans.

use std::path::{Path, PathBuf};
use std::time::Duration;

use switchyard::{
    CommandSmoke, Error, FileLock, LinkRequest, LinkStyle, Plan, Policy, Request, RestoreRequest,
    SafePath, Switchyard,
};

use crate::scenario::{self, ApplyStep, BackupStore, PolicySpec, Preset};

/// How long the engine waits for its lock unless the scenario says otherwise.
const DEFAULT_LOCK_WAIT: Duration = Duration::from_millis(1000);
/// How long one health check may run unless the scenario says otherwise.
const DEFAULT_SMOKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where one trial variant keeps things: the scenario root on the filesystem under test, the
/// engine's lock beside (not on) it, and the backup store if the policy asks for one.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub(crate) root: PathBuf,
    pub(crate) lock: PathBuf,
    pub(crate) store: Option<PathBuf>,
}

/// The engine a scenario's policy describes, with the lock and smoke runner it provides
/// unless the scenario turns them off to test the engine's refusal.
pub(crate) fn engine(spec: &PolicySpec, layout: &Layout) -> Switchyard {
    let o = &spec.overrides;
    let mut policy = match spec.preset {
        Preset::Production => Policy::production(),
        Preset::Permissive => Policy::permissive(),
    };
    if let Some(style) = o.link_style {
        policy.link_style = match style {
            scenario::LinkStyle::Relative => LinkStyle::Relative,
            scenario::LinkStyle::Absolute => LinkStyle::Absolute,
        };
    }
    let set = |field: &mut bool, value: Option<bool>| {
        if let Some(v) = value {
            *field = v;
        }
    };
    set(&mut policy.require_lock, o.require_lock);
    set(&mut policy.require_rescue, o.require_rescue);
    set(&mut policy.require_smoke, o.require_smoke);
    set(&mut policy.auto_rollback, o.auto_rollback);
    set(&mut policy.allow_degraded, o.allow_degraded);
    policy.backup_store = layout.store.clone();

    let mut engine = Switchyard::new(policy);
    if o.lock_manager.unwrap_or(true) {
        engine = engine.with_lock(FileLock::new(&layout.lock, lock_bound(spec)));
    }
    if o.smoke_runner.unwrap_or(true) {
        engine = engine.with_smoke(CommandSmoke {
            args: o
                .smoke_args
                .clone()
                .unwrap_or_else(|| vec!["--version".to_owned()]),
            timeout: o
                .smoke_timeout_ms
                .map_or(DEFAULT_SMOKE_TIMEOUT, Duration::from_millis),
        });
    }
    engine
}

/// How long the engine waits for its lock under `spec`.
pub(crate) fn lock_bound(spec: &PolicySpec) -> Duration {
    spec.overrides
        .lock_timeout_ms
        .map_or(DEFAULT_LOCK_WAIT, Duration::from_millis)
}

/// Whether the scenario's backup store lives on a second filesystem, beside the trial's.
pub(crate) fn wants_second_filesystem(spec: &PolicySpec) -> bool {
    spec.overrides.backup_store == Some(BackupStore::SecondFilesystem)
}

/// Whether the scenario's backup store is a directory on the filesystem under test.
pub(crate) fn wants_same_filesystem_store(spec: &PolicySpec) -> bool {
    spec.overrides.backup_store == Some(BackupStore::SameFilesystem)
}

/// The plan of an apply step. Paths are checked by the engine, so a scenario can show that a
/// path escaping the root is refused.
pub(crate) fn apply_plan(root: &Path, step: &ApplyStep) -> Result<Plan, Error> {
    let mut requests = Vec::new();
    for link in &step.link {
        requests.push(Request::Link(LinkRequest {
            source: SafePath::new(root, &link.source)?,
            target: SafePath::new(root, &link.target)?,
        }));
    }
    for target in &step.restore {
        requests.push(Request::Restore(RestoreRequest {
            target: SafePath::new(root, target)?,
        }));
    }
    Plan::new(requests)
}
