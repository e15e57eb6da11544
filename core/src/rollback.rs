//! Rollback: put back what a plan replaced, newest action first, from the sidecars on disk, so
//! it works in a fresh process after a crash as well as right after an apply.

use serde::{Deserialize, Serialize};

use crate::backup::{Names, Sidecar};
use crate::engine::{Emitter, Switchyard, Trees, describe_error};
use crate::error::{Error, Step};
use crate::facts::{Decision, FactSink, Reason, Stage};
use crate::history::{Generation, History};
use crate::plan::{Action, ActionKind, Plan};
use crate::state::{Kind, ObjectState};
use crate::swap::{Restored, Target, restore_prior};
use crate::sys;
use crate::tree::{FsTypes, SyncSet};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RollbackOptions {
    /// Replace a target that someone else changed since the swap (drift) instead of refusing.
    /// The drifted object is removed. Also leave the plan's link where no record of the plan's
    /// change to it exists ([`Error::NoRecord`]), with a warning, instead of refusing.
    pub force: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackReport {
    /// Targets put back to their prior state.
    pub restored: usize,
    /// Targets that already were their prior state, or that the plan never changed.
    pub unchanged: usize,
}

impl Switchyard {
    /// Rolls back the newest change this plan made to each target. A target that already is its
    /// prior state is an idempotent no-op; one changed by someone else is refused (`E_DRIFT`)
    /// unless forced; the plan's link with no record of the plan's change to it is refused
    /// (`E_BACKUP_MISSING`) unless forced. Every action is attempted; the first error is
    /// returned.
    pub fn rollback(
        &self,
        plan: &Plan,
        options: RollbackOptions,
        sink: &mut dyn FactSink,
    ) -> Result<RollbackReport, Error> {
        let mut out = Emitter::new(sink, plan.id(), false);
        let result = self.rollback_plan(plan, options, &mut out);
        let summary = out.summary(
            Stage::RollbackSummary,
            plan.actions().len(),
            result.as_ref().err(),
        );
        out.emit(summary);
        out.sync();
        out.finish(result)
    }

    fn rollback_plan(
        &self,
        plan: &Plan,
        options: RollbackOptions,
        out: &mut Emitter<'_>,
    ) -> Result<RollbackReport, Error> {
        let _lock = if defect!(RollbackWithoutLock) {
            None
        } else {
            self.lock(out)?
        };
        let mut trees = Trees::open(plan, &self.policy).inspect_err(|e| {
            out.emit(out.failure(Stage::Rollback, e));
        })?;
        let mut sync = SyncSet::default();
        let mut fs_types = FsTypes::default();
        let mut report = RollbackReport::default();
        let mut first_error = None;
        for action in plan.actions().iter().rev() {
            let mut fact = out.action_fact(Stage::Rollback, Decision::Success, action);
            if *action.kind() == ActionKind::Restore {
                fact.decision = Decision::Warn;
                fact.reason = Some(Reason::RestoreIsFinal);
                report.unchanged += 1;
                out.emit(fact);
                continue;
            }
            let rolled = trees.target(action).and_then(|target| {
                fact.fs_type = fs_types.of(&target.dir);
                self.roll_back_one(action, &target, plan, options, &mut trees, &mut sync)
            });
            match rolled {
                Ok(Outcome::Unchanged(reason)) => {
                    fact.reason = Some(reason);
                    report.unchanged += 1;
                }
                Ok(Outcome::Unrecorded(refusal)) => {
                    fact.decision = Decision::Warn;
                    fact.reason = Some(Reason::NotChangedByPlan);
                    describe_error(&mut fact, &refusal);
                    report.unchanged += 1;
                }
                Ok(Outcome::Restore(before, after, backup, restored)) => {
                    fact.before_kind = Some(before);
                    fact.after_kind = Some(after);
                    match restored {
                        Restored::AlreadyPrior => {
                            fact.before_kind = Some(after);
                            fact.reason = Some(Reason::IdempotentNoop);
                            report.unchanged += 1;
                        }
                        Restored::Done { degraded, forced } => {
                            fact.backup = backup;
                            if degraded {
                                fact.degraded = Some(true);
                                fact.reason = Some(Reason::CrossFilesystemCopy);
                            }
                            if forced {
                                fact.reason = Some(Reason::Forced);
                            }
                            report.restored += 1;
                        }
                    }
                }
                Err(e) => {
                    fact.decision = Decision::Failure;
                    describe_error(&mut fact, &e);
                    first_error.get_or_insert(e);
                }
            }
            out.emit(fact);
        }
        match sync.sync_dirs() {
            Ok(()) => crash_point!(RollbackAfterFsync),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
        if defect!(ReportMiscounted) {
            (report.restored, report.unchanged) = (report.restored + report.unchanged, 0);
        }
        first_error.map_or(Ok(report), Err)
    }

    /// Rolls back the generation of the target's history that this plan placed (see
    /// [`History::of_plan`]).
    fn roll_back_one(
        &self,
        action: &Action,
        target: &Target,
        plan: &Plan,
        options: RollbackOptions,
        trees: &mut Trees,
        sync: &mut SyncSet,
    ) -> Result<Outcome, Error> {
        let mut history = History::read(trees, target)?;
        let Some(i) = history.of_plan(plan.id()) else {
            // A backup without its record may be this plan's: refuse to call it unchanged.
            if let Some(backup) = history.orphans.first() {
                return Err(Error::SidecarMissing {
                    target: target.rel.clone(),
                    backup: backup.to_string_lossy().into_owned(),
                });
            }
            let outcome = match self.unrecorded_link(action, &history, trees, target)? {
                Some(refusal) if !options.force => return Err(refusal),
                Some(refusal) => Outcome::Unrecorded(refusal),
                None => Outcome::Unchanged(Reason::NotChangedByPlan),
            };
            remove_unpublished_sidecars(plan, trees, target, sync)?;
            return Ok(outcome);
        };
        history.covered(target, i)?;
        let Generation {
            sidecar,
            slot,
            keeps_prior,
            live,
        } = history.generations.swap_remove(i);
        let here = |state: &ObjectState| {
            state
                .is_at(target.dir.fd(), &target.name)
                .map_err(|source| Error::Io {
                    target: target.rel.clone(),
                    step: Step::Inspect,
                    source,
                })
        };
        // Its prior object was put back and the target has moved on since (a later plan, or
        // that plan's own rollback): this plan's change is already undone.
        if !live
            && !keeps_prior
            && sidecar.prior != ObjectState::None
            && !here(&sidecar.prior)?
            && !here(&sidecar.placed)?
        {
            return Ok(Outcome::Unchanged(Reason::AlreadyRolledBack));
        }
        sync.add(&target.dir);
        sync.add(&slot.dir);
        let restored = restore_prior(target, &sidecar, &slot, options.force)?;
        Ok(Outcome::Restore(
            sidecar.placed.kind(),
            sidecar.prior.kind(),
            sidecar.backup.clone(),
            restored,
        ))
    }

    /// For a plan with no generation of `target`: the refusal to call it unchanged when the
    /// target is the plan's link, unless a live generation of another plan placed that link
    /// (this plan's apply then found it in place and recorded nothing). Without one, nothing
    /// tells a link found in place from one whose record is lost, or kept where this root's
    /// path does not lead (a backup store reached through another path to the root).
    fn unrecorded_link(
        &self,
        action: &Action,
        history: &History,
        trees: &Trees,
        target: &Target,
    ) -> Result<Option<Error>, Error> {
        let ActionKind::Link { source } = action.kind() else {
            return Ok(None);
        };
        if history.generations.iter().any(|g| g.live) {
            return Ok(None);
        }
        let link = ObjectState::Symlink {
            dest: self
                .policy
                .link_style
                .destination(target.dir.real_rel(), source),
        };
        let here = link
            .is_at(target.dir.fd(), &target.name)
            .map_err(|source| Error::Io {
                target: target.rel.clone(),
                step: Step::Inspect,
                source,
            })?;
        if !here {
            return Ok(None);
        }
        let (searched, in_store) = trees.backup_dir_path(target);
        Ok(Some(Error::NoRecord {
            target: target.rel.clone(),
            searched,
            in_store,
        }))
    }
}

/// A crash after this plan wrote a target's sidecar temporary and before it published it leaves
/// the temporary behind. No swap followed (a sidecar is durable before its swap), and the file
/// is provably this engine's record of this plan: remove it, so the tree is as before the apply.
fn remove_unpublished_sidecars(
    plan: &Plan,
    trees: &mut Trees,
    target: &Target,
    sync: &mut SyncSet,
) -> Result<(), Error> {
    let Some(dir) = trees.backup_dir(target, None)? else {
        return Ok(());
    };
    for generation in trees.sidecar_temps(&dir, target)? {
        let names = Names::new(&target.name, generation);
        if Sidecar::is_own_temp_of_plan(dir.fd(), &names, &target.rel, plan.id()) {
            sys::unlink_at(dir.fd(), &names.sidecar_tmp).map_err(|source| Error::Io {
                target: target.rel.clone(),
                step: Step::Unlink,
                source,
            })?;
            sync.add(&dir);
        }
    }
    Ok(())
}

/// What rolling back one action found.
enum Outcome {
    Unchanged(Reason),
    /// Forced past the refusal: the plan's link stays, with no record to restore from.
    Unrecorded(Error),
    /// The kinds before and after, the backup's name and what the restore did.
    Restore(Kind, Kind, Option<String>, Restored),
}
