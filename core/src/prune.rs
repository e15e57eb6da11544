//! Prune: drop old generations of backups, keeping the newest N of each target and every
//! generation a rollback still needs.

use crate::engine::{Emitter, Switchyard, Trees, describe_error};
use crate::error::{Error, Step};
use crate::facts::{Decision, FactSink, Stage};
use crate::history::History;
use crate::plan::{Action, Plan};
use crate::swap::remove_leftovers;
use crate::sys;
use crate::tree::SyncSet;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Generations removed, over all targets.
    pub removed: usize,
}

impl Switchyard {
    /// Removes old generations of each target of the plan, keeping the newest `keep` (at least
    /// one) and every generation a rollback still needs (live, or still keeping the object its
    /// swap replaced): sidecar and debris. A removed generation cannot be rolled back.
    pub fn prune(
        &self,
        plan: &Plan,
        keep: usize,
        sink: &mut dyn FactSink,
    ) -> Result<PruneReport, Error> {
        let mut out = Emitter::new(sink, plan.id(), false);
        let result = self.prune_plan(plan, keep.max(1), &mut out);
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

    fn prune_plan(
        &self,
        plan: &Plan,
        keep: usize,
        out: &mut Emitter<'_>,
    ) -> Result<PruneReport, Error> {
        let _lock = self.lock(out)?;
        let mut trees = Trees::open(plan, &self.policy)?;
        let mut sync = SyncSet::default();
        let mut report = PruneReport::default();
        for action in plan.actions() {
            let mut fact = out.action_fact(Stage::PruneResult, Decision::Success, action);
            match prune_target(action, keep, &mut trees, &mut sync) {
                Ok(removed) => {
                    fact.pruned = Some(removed);
                    report.removed += removed;
                    out.emit(fact);
                }
                Err(e) => {
                    fact.decision = Decision::Failure;
                    describe_error(&mut fact, &e);
                    out.emit(fact);
                    return Err(e);
                }
            }
        }
        sync.sync_dirs()?;
        Ok(report)
    }
}

/// Removes the generations of one target that no rollback needs: older than the newest `keep`,
/// not live, and no longer keeping the object their swap replaced. A generation that still
/// keeps it (even one a reinstall made dead) holds an original that may exist nowhere else.
fn prune_target(
    action: &Action,
    keep: usize,
    trees: &mut Trees,
    sync: &mut SyncSet,
) -> Result<usize, Error> {
    let target = trees.target(action)?;
    let history = History::read(trees, &target)?;
    let old = history.generations.len().saturating_sub(keep);
    let mut removed = 0;
    for generation in &history.generations[..old] {
        if generation.live || generation.keeps_prior {
            continue;
        }
        let slot = &generation.slot;
        // Debris only when provably the engine's; then the record itself.
        remove_leftovers(&target, &generation.sidecar, slot)?;
        sys::unlink_if_exists(slot.dir.fd(), &slot.names.sidecar).map_err(|source| Error::Io {
            target: target.rel.clone(),
            step: Step::Unlink,
            source,
        })?;
        sync.add(&slot.dir);
        sync.add(&target.dir);
        removed += 1;
    }
    Ok(removed)
}
