//! A commit's plan record: written once the commit holds the root's lock and passed preflight,
//! before its first change (so a crash mid-commit leaves the plan findable, in its place); and
//! settled after it: a commit that ends undone changed nothing, so it leaves the records as
//! they were.
//!
//! The engine takes the lock and runs preflight inside `apply`; its facts say when both are
//! done: the plan-wide `preflight` success of a commit comes after the lock and every gate and
//! before the first sidecar. The recorder watches the facts for it.

use switchyard::{
    ApplyReport, Decision, Error, ErrorId, Fact, FactSink, FileLock, LinkState, Plan, PlanRecord,
    PlanStore, Stage, Switchyard,
};

use crate::error::CliError;
use crate::report::Warning;

/// Watches one commit's facts and records its plan at the right moment.
pub struct Recorder<'a> {
    store: &'a PlanStore,
    plan: &'a Plan,
    /// Preflight found an action with something to do: the commit will change the tree.
    changes: bool,
    state: State,
}

enum State {
    /// Preflight has not passed.
    Waiting,
    /// The commit changes nothing, so there is nothing to record (an existing record keeps its
    /// place).
    Unneeded,
    /// Recorded as the newest plan; `previous` is the record this replaced.
    Saved { previous: Option<PlanRecord> },
    /// The record could not be written.
    Failed(Error),
}

impl<'a> Recorder<'a> {
    pub fn new(store: &'a PlanStore, plan: &'a Plan) -> Recorder<'a> {
        Recorder {
            store,
            plan,
            changes: false,
            state: State::Waiting,
        }
    }

    /// Sees each fact of the commit.
    pub fn see(&mut self, fact: &Fact) {
        if fact.dry_run || fact.stage != Stage::Preflight || fact.decision != Decision::Success {
            return;
        }
        if fact.action_id.is_some() {
            // A no-op action carries its reason (`already_linked`).
            self.changes |= fact.reason.is_none();
            return;
        }
        self.state = if self.changes {
            // A damaged record of this same plan is about to be replaced: it is no
            // `previous` worth putting back.
            let previous = self.store.get(self.plan.id()).ok().flatten();
            match self.store.save(self.plan) {
                Ok(_) => State::Saved { previous },
                Err(e) => State::Failed(e),
            }
        } else {
            State::Unneeded
        };
    }

    /// Settles the records once the commit ended with `result`.
    ///
    /// - A commit that stands but could not be recorded is rolled back (and its sidecars
    ///   tidied): an unrecorded plan could not be rolled back by its id.
    /// - A commit that ended undone leaves the records as they were: the record it replaced is
    ///   put back, or a new one removed once nothing of the plan is left on disk.
    pub fn settle(
        self,
        engine: &Switchyard,
        lock: &FileLock,
        result: Result<ApplyReport, Error>,
        sink: &mut dyn FactSink,
        warnings: &mut Vec<Warning>,
    ) -> Result<ApplyReport, CliError> {
        match (result, self.state) {
            (Ok(_), State::Failed(record)) => {
                let undo = engine
                    .rollback(self.plan, Default::default(), sink)
                    .and_then(|_| engine.tidy(self.plan, sink));
                Err(match undo {
                    Ok(_) => CliError::NotRecorded { source: record },
                    Err(source) => CliError::NotRecordedNorUndone {
                        record: crate::error::chain(&record),
                        source,
                    },
                })
            }
            (Err(e), State::Failed(record)) => {
                warnings.push(Warning::from(&record));
                Err(e.into())
            }
            (Err(e), State::Saved { previous }) if undone(&e) => {
                if let Err(settling) = put_back(self.store, self.plan, engine, lock, previous) {
                    warnings.push(Warning::from(&settling));
                }
                Err(e.into())
            }
            (result, _) => Ok(result?),
        }
    }
}

/// Whether a failed commit undid every change it made (the engine's automatic undo), so the
/// tree is as it was before it.
fn undone(e: &Error) -> bool {
    match e {
        // The audit trail failed; the commit's own outcome is what counts.
        Error::AuditTrail { outcome, .. } => outcome.as_deref().is_some_and(undone),
        e => e.id() != ErrorId::RestoreFailed,
    }
}

/// Puts the records back as they were before an undone commit, under the root's lock.
fn put_back(
    store: &PlanStore,
    plan: &Plan,
    engine: &Switchyard,
    lock: &FileLock,
    previous: Option<PlanRecord>,
) -> Result<(), Error> {
    let _held = lock.acquire()?;
    match previous {
        Some(record) => store.put(&record),
        None => forget_if_gone(store, engine, plan).map(|_| ()),
    }
}

/// Removes the record of `plan` when nothing of the plan is left on disk (no sidecar of it
/// beside any target), and says whether it did. While a sidecar is left, the record is how
/// `rollback --tidy` finds it. Call holding the root's lock.
pub fn forget_if_gone(store: &PlanStore, engine: &Switchyard, plan: &Plan) -> Result<bool, Error> {
    let gone = engine
        .status(plan)?
        .iter()
        .all(|s| s.state == LinkState::NotApplied);
    if gone {
        store.remove(plan.id())?;
    }
    Ok(gone)
}
