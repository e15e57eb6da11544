//! Prune: drop old generations of backups, keeping the newest N of each target.

use crate::backup::Names;
use crate::engine::{Emitter, Switchyard, Trees, describe_error};
use crate::error::{Error, Step};
use crate::facts::{Decision, FactSink, Stage};
use crate::plan::{Action, Plan};
use crate::sys;
use crate::tree::SyncSet;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Generations removed, over all targets.
    pub removed: usize,
}

impl Switchyard {
    /// Removes every generation but the newest `keep` (at least one) of each target of the plan:
    /// sidecar, backup and any debris. An older generation cannot be rolled back afterwards.
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

fn prune_target(
    action: &Action,
    keep: usize,
    trees: &mut Trees,
    sync: &mut SyncSet,
) -> Result<usize, Error> {
    let target = trees.target(action)?;
    let Some(dir) = trees.backup_dir(&target, None)? else {
        return Ok(0);
    };
    let generations = trees.generations(&dir, &target)?;
    let old = generations.len().saturating_sub(keep);
    for &generation in &generations[..old] {
        let names = Names::new(&target.name, generation);
        for name in [
            &names.backup,
            &names.backup_tmp,
            &names.sidecar_tmp,
            &names.sidecar,
        ] {
            sys::unlink_if_exists(dir.fd(), name).map_err(|source| Error::Io {
                target: target.rel.clone(),
                step: Step::Unlink,
                source,
            })?;
        }
        sys::unlink_if_exists(target.dir.fd(), &names.temp).map_err(|source| Error::Io {
            target: target.rel.clone(),
            step: Step::Unlink,
            source,
        })?;
    }
    if old > 0 {
        sync.add(&dir);
        sync.add(&target.dir);
    }
    Ok(old)
}
