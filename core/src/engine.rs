//! The engine value: a policy, an optional lock and an optional smoke runner; and what every
//! operation shares (opening the trees, resolving targets, emitting facts).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use uuid::Uuid;

use crate::backup::{EngineFile, EngineFiles};
use crate::error::{Error, Step};
use crate::facts::{CANONICAL_TS, Decision, Fact, FactSink, Stage};
use crate::lock::{FileLock, LockGuard, millis};
use crate::plan::{Action, Plan};
use crate::policy::Policy;
use crate::program::ProgramRunner;
use crate::smoke::SmokeRunner;
use crate::store;
use crate::swap::Target;
use crate::sys;
use crate::tree::{Dir, Root, SyncSet};

/// Whether an apply changes anything. Dry-run is the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ApplyMode {
    /// Inspect, check every gate, and emit the facts a commit would (redacted); change nothing.
    #[default]
    DryRun,
    Commit,
}

/// The swap engine.
///
/// ```no_run
/// use std::time::Duration;
/// use switchyard::{ApplyMode, CommandSmoke, FileLock, LinkRequest, MemorySink, Plan, Policy, SafePath, Switchyard};
///
/// let engine = Switchyard::new(Policy::production())
///     .with_lock(FileLock::new("/run/switchyard.lock", Duration::from_secs(5)))
///     .with_smoke(CommandSmoke::default());
/// let plan = Plan::links([LinkRequest {
///     source: SafePath::new("/", "opt/uutils/ls")?,
///     target: SafePath::new("/", "usr/bin/ls")?,
/// }])?;
/// let mut facts = MemorySink::default();
/// engine.apply(&plan, ApplyMode::Commit, &mut facts)?;
/// engine.rollback(&plan, Default::default(), &mut facts)?;
/// # Ok::<(), switchyard::Error>(())
/// ```
pub struct Switchyard {
    pub(crate) policy: Policy,
    lock: Option<FileLock>,
    pub(crate) smoke: Option<Box<dyn SmokeRunner>>,
}

// One engine may serve several threads (a daemon, a test runner): keep it so.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Switchyard>();
};

impl std::fmt::Debug for Switchyard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switchyard")
            .field("policy", &self.policy)
            .field("lock", &self.lock)
            .field("smoke", &self.smoke.is_some())
            .finish()
    }
}

impl Switchyard {
    pub fn new(policy: Policy) -> Switchyard {
        Switchyard {
            policy,
            lock: None,
            smoke: None,
        }
    }

    /// The lock every commit, rollback and prune holds for its whole length.
    pub fn with_lock(mut self, lock: FileLock) -> Switchyard {
        self.lock = Some(lock);
        self
    }

    /// The health check run on each swapped target after a commit.
    pub fn with_smoke(mut self, runner: impl SmokeRunner + 'static) -> Switchyard {
        self.smoke = Some(Box::new(runner));
        self
    }

    /// Runs the rescue toolset's probes through `runner` (the policy's
    /// [`RescueProfile::runner`](crate::RescueProfile::runner)): where the caller runs its
    /// health checks, so that both see the same programs.
    pub fn with_rescue_runner(mut self, runner: impl ProgramRunner + 'static) -> Switchyard {
        self.policy.rescue.runner = Arc::new(runner);
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub(crate) fn has_lock(&self) -> bool {
        self.lock.is_some()
    }

    /// Takes the lock for a mutating operation, or fails as policy says when there is none.
    pub(crate) fn lock(&self, out: &mut Emitter<'_>) -> Result<Option<LockGuard>, Error> {
        let result = match &self.lock {
            Some(lock) => lock.acquire().map(Some),
            None if self.policy.require_lock => Err(Error::NoLockManager),
            None => Ok(None),
        };
        match &result {
            Ok(guard) => out.lock_wait_ms = guard.as_ref().map(|g| g.waited_ms),
            Err(e) => {
                let mut fact = out.failure(Stage::Preflight, e);
                if let Error::LockTimeout { waited_ms, .. } = e {
                    fact.lock_wait_ms = Some(*waited_ms);
                }
                out.emit(fact);
            }
        }
        result
    }
}

/// Emits the facts of one operation: stamps plan id and mode, redacts dry-run facts. A sink
/// error never interrupts the operation (its undo, health check and automatic rollback matter
/// more than the trail); the first one is kept and [`Emitter::finish`] reports it as `E_AUDIT`.
pub(crate) struct Emitter<'a> {
    sink: &'a mut dyn FactSink,
    plan_id: Uuid,
    dry_run: bool,
    started: Instant,
    sink_error: Option<io::Error>,
    /// How long the operation waited for its lock, once it holds it: on its closing fact.
    lock_wait_ms: Option<u64>,
}

impl<'a> Emitter<'a> {
    pub(crate) fn new(sink: &'a mut dyn FactSink, plan_id: Uuid, dry_run: bool) -> Emitter<'a> {
        Emitter {
            sink,
            plan_id,
            dry_run,
            started: Instant::now(),
            sink_error: None,
            lock_wait_ms: None,
        }
    }

    pub(crate) fn fact(&self, stage: Stage, decision: Decision) -> Fact {
        let mut fact = Fact::new(stage, decision, self.plan_id, self.dry_run);
        if self.dry_run {
            fact.ts = CANONICAL_TS.to_owned();
        }
        fact
    }

    /// A fact about one action: its id, target and source filled in.
    pub(crate) fn action_fact(&self, stage: Stage, decision: Decision, action: &Action) -> Fact {
        let mut fact = self.fact(stage, decision);
        fact.action_id = Some(action.id());
        fact.target = Some(action.target().display_rel());
        fact.source = action.source_text();
        fact
    }

    /// A warning of what a commit would refuse: the error's id and exit code (a dry-run fact,
    /// redacted like all of them).
    pub(crate) fn warning(&self, stage: Stage, error: &Error) -> Fact {
        let mut fact = self.fact(stage, Decision::Warn);
        fact.error_id = Some(error.id());
        fact.exit_code = Some(error.exit_code());
        fact
    }

    /// A failure fact carrying the error's id, exit code and message.
    pub(crate) fn failure(&self, stage: Stage, error: &Error) -> Fact {
        let mut fact = self.fact(stage, Decision::Failure);
        describe_error(&mut fact, error);
        fact
    }

    /// The closing fact of an operation, with its duration (volatile).
    pub(crate) fn summary(&self, stage: Stage, actions: usize, error: Option<&Error>) -> Fact {
        let mut fact = match error {
            Some(e) => self.failure(stage, e),
            None => self.fact(stage, Decision::Success),
        };
        fact.actions = Some(actions);
        if !self.dry_run {
            fact.duration_ms = Some(millis(self.started.elapsed()));
            fact.lock_wait_ms = fact.lock_wait_ms.or(self.lock_wait_ms);
        }
        fact
    }

    pub(crate) fn emit(&mut self, fact: Fact) {
        if let Err(e) = self.sink.record(&fact) {
            self.sink_error.get_or_insert(e);
        }
    }

    /// Makes the trail durable; a failure is kept like one of [`Emitter::emit`].
    pub(crate) fn sync(&mut self) {
        if let Err(e) = self.sink.sync() {
            self.sink_error.get_or_insert(e);
        }
    }

    /// Ends the operation: its own result, unless the sink failed on the way; then `E_AUDIT`
    /// carrying that result.
    pub(crate) fn finish<T>(self, result: Result<T, Error>) -> Result<T, Error> {
        match self.sink_error {
            None => result,
            Some(source) => Err(Error::AuditTrail {
                source,
                outcome: result.err().map(Box::new),
            }),
        }
    }
}

pub(crate) fn describe_error(fact: &mut Fact, error: &Error) {
    fact.error_id = Some(error.id());
    fact.exit_code = Some(error.exit_code());
    fact.message = Some(error_chain(error));
}

/// The error and its sources on one line.
fn error_chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The managed tree and, when policy names one, the backup store, opened for one operation.
#[derive(Debug)]
pub(crate) struct Trees {
    pub(crate) root: Root,
    store: Option<Root>,
    /// This root's directory in the store: roots that share a store keep apart.
    store_key: PathBuf,
    listings: HashMap<(u64, u64), EngineFiles>,
}

impl Trees {
    pub(crate) fn open(plan: &Plan, policy: &Policy) -> Result<Trees, Error> {
        let root = Root::open(plan.root())?;
        Ok(Trees {
            store_key: PathBuf::from(store::root_key(root.real())),
            root,
            store: policy.backup_store.as_deref().map(Root::open).transpose()?,
            listings: HashMap::new(),
        })
    }

    /// Resolves an action's target: its parent directory inside the root, and its name.
    pub(crate) fn target(&mut self, action: &Action) -> Result<Target, Error> {
        let rel = action.target().display_rel();
        let dir = self
            .root
            .dir(action.target().parent_rel())
            .map_err(|source| Error::Io {
                target: rel.clone(),
                step: Step::ResolveParent,
                source,
            })?;
        Ok(Target {
            dir,
            name: action.target().file_name().to_owned(),
            rel,
        })
    }

    /// The directory that holds `target`'s sidecars and backups. With a store, it mirrors the
    /// target's real directory under the root's own directory in the store, and is created
    /// when `sync` is given (commit); otherwise a store directory that does not exist yet is
    /// `None`.
    pub(crate) fn backup_dir(
        &mut self,
        target: &Target,
        sync: Option<&mut SyncSet>,
    ) -> Result<Option<Rc<Dir>>, Error> {
        let Some(store) = &mut self.store else {
            return Ok(Some(Rc::clone(&target.dir)));
        };
        let real = self.store_key.join(target.dir.real_rel());
        let real = real.as_path();
        let found = match sync {
            Some(sync) => store.dir_creating(real, sync).map(Some),
            None => match store.dir(real) {
                Ok(dir) => Ok(Some(dir)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
        };
        found.map_err(|source| Error::Io {
            target: target.rel.clone(),
            step: Step::ResolveParent,
            source,
        })
    }

    /// Where [`Trees::backup_dir`] looks for `target`'s records, as an absolute path on the host,
    /// for messages; and whether that is in the backup store.
    pub(crate) fn backup_dir_path(&self, target: &Target) -> (PathBuf, bool) {
        match &self.store {
            Some(store) => (
                store
                    .real()
                    .join(&self.store_key)
                    .join(target.dir.real_rel()),
                true,
            ),
            None => (self.root.real().join(target.dir.real_rel()), false),
        }
    }

    /// Whether backups of targets in `dir` would land on another filesystem.
    pub(crate) fn store_is_elsewhere(&mut self, dir: &Dir) -> Result<bool, Error> {
        let Some(store) = &mut self.store else {
            return Ok(false);
        };
        let store_root = store.dir(Path::new("")).map_err(|source| Error::Io {
            target: ".".to_owned(),
            step: Step::ResolveParent,
            source,
        })?;
        Ok(store_root.dev() != dir.dev())
    }

    /// The engine's files in `dir`. The directory is listed once per operation, however many
    /// targets it holds.
    fn engine_files(&mut self, dir: &Dir, target: &Target) -> Result<&EngineFiles, Error> {
        Ok(match self.listings.entry(dir.key()) {
            Entry::Occupied(listed) => listed.into_mut(),
            Entry::Vacant(slot) => {
                let names = sys::read_dir_names(dir.fd()).map_err(|source| Error::Io {
                    target: target.rel.clone(),
                    step: Step::ReadSidecar,
                    source,
                })?;
                slot.insert(EngineFiles::index(&names))
            }
        })
    }

    /// Whether `dir`, as listed at its first use in this operation, holds the engine's `file` of
    /// `generation` for `target`. Answers from the listing spare a lookup per name and target.
    pub(crate) fn lists(
        &mut self,
        dir: &Dir,
        target: &Target,
        generation: u32,
        file: EngineFile,
    ) -> Result<bool, Error> {
        Ok(self
            .engine_files(dir, target)?
            .has(&target.name, generation, file))
    }

    /// The generations of `target` recorded in `dir`, oldest first.
    pub(crate) fn generations(&mut self, dir: &Dir, target: &Target) -> Result<Vec<u32>, Error> {
        Ok(self.engine_files(dir, target)?.generations(&target.name))
    }

    /// The generations of `target` in `dir` with a sidecar temporary, oldest first.
    pub(crate) fn sidecar_temps(&mut self, dir: &Dir, target: &Target) -> Result<Vec<u32>, Error> {
        Ok(self.engine_files(dir, target)?.sidecar_temps(&target.name))
    }

    /// The generations of `target` in `dir` with a backup but no sidecar, oldest first.
    pub(crate) fn orphan_backups(&mut self, dir: &Dir, target: &Target) -> Result<Vec<u32>, Error> {
        Ok(self.engine_files(dir, target)?.orphan_backups(&target.name))
    }
}
