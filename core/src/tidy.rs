//! Tidy: once a target is back to what it was, the sidecars that record its finished swaps are
//! only clutter beside it; remove them, so a directory gets back its original listing.

use crate::engine::{Emitter, Switchyard, Trees, describe_error};
use crate::error::{Error, Step};
use crate::facts::{Decision, FactSink, Stage};
use crate::history::{Generation, History};
use crate::plan::{Action, ActionKind, Plan};
use crate::swap::remove_leftovers;
use crate::sys;
use crate::tree::SyncSet;

/// What a tidy removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TidyReport {
    /// Generations whose files were removed, over all targets.
    pub removed: usize,
    /// Link targets left alone: still switched, changed by someone else, or with a backup that
    /// still holds an object.
    pub kept: usize,
}

impl Switchyard {
    /// For each link target of `plan` that is its prior state again (what its newest sidecar
    /// says was there before), removes every generation whose backup no longer holds anything:
    /// sidecar and debris. A target still switched, drifted, or with a backup left is kept whole.
    /// A file of the tree under one of the generations' names fails the tidy (`E_POLICY`),
    /// naming it, and stays. Rolling the plan back afterwards is a no-op.
    pub fn tidy(&self, plan: &Plan, sink: &mut dyn FactSink) -> Result<TidyReport, Error> {
        let mut out = Emitter::new(sink, plan.id(), false);
        let result = self.tidy_plan(plan, &mut out);
        let mut summary = out.summary(
            Stage::PruneResult,
            plan.actions().len(),
            result.as_ref().err(),
        );
        summary.pruned = result.as_ref().ok().map(|r| r.removed);
        out.emit(summary);
        out.sync();
        out.finish(result)
    }

    fn tidy_plan(&self, plan: &Plan, out: &mut Emitter<'_>) -> Result<TidyReport, Error> {
        let _lock = self.lock(out)?;
        let mut trees = Trees::open(plan, &self.policy)?;
        let mut sync = SyncSet::default();
        let mut report = TidyReport::default();
        for action in plan.actions() {
            if !matches!(action.kind(), ActionKind::Link { .. }) {
                continue;
            }
            let mut fact = out.action_fact(Stage::PruneResult, Decision::Success, action);
            match tidy_target(action, &mut trees, &mut sync) {
                Ok(Some(removed)) => {
                    fact.pruned = Some(removed);
                    report.removed += removed;
                }
                Ok(None) => report.kept += 1,
                Err(e) => {
                    fact.decision = Decision::Failure;
                    describe_error(&mut fact, &e);
                    out.emit(fact);
                    return Err(e);
                }
            }
            out.emit(fact);
        }
        sync.sync_dirs()?;
        Ok(report)
    }
}

/// `None` when the target is kept whole; otherwise how many generations were removed.
fn tidy_target(
    action: &Action,
    trees: &mut Trees,
    sync: &mut SyncSet,
) -> Result<Option<usize>, Error> {
    let target = trees.target(action)?;
    let history = History::read(trees, &target)?;
    let Some(newest) = history.generations.last().map(|g| &g.sidecar) else {
        return Ok(Some(0));
    };
    let io = |step| {
        let rel = target.rel.clone();
        move |source| Error::Io {
            target: rel,
            step,
            source,
        }
    };
    if !newest
        .prior
        .is_at(target.dir.fd(), &target.name)
        .map_err(io(Step::Inspect))?
    {
        return Ok(None);
    }
    for Generation { sidecar, slot, .. } in &history.generations {
        let backup_left = sidecar.backup.is_some()
            && sys::lstat_at(slot.dir.fd(), &slot.names.backup)
                .map_err(io(Step::Inspect))?
                .is_some();
        if backup_left {
            return Ok(None);
        }
    }
    for Generation { sidecar, slot, .. } in &history.generations {
        // Debris only when provably the engine's, as prune removes it; the sidecar last: until
        // it goes, the generation is still recognisable as ours.
        remove_leftovers(&target, sidecar, slot)?;
        sys::unlink_if_exists(slot.dir.fd(), &slot.names.sidecar).map_err(io(Step::Unlink))?;
        sync.add(&slot.dir);
        sync.add(&target.dir);
    }
    Ok(Some(history.generations.len()))
}
