//! Apply: preflight every action and gate, then (commit) write all sidecars durably, swap each
//! target, sync each touched directory once, run health checks, and undo everything on failure.

use std::collections::HashSet;
use std::ffi::OsString;

use rustix::fs::FileType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::backup::{EngineFile, Names, SIDECAR_SCHEMA, Sidecar, SidecarTemp};
use crate::engine::{ApplyMode, Emitter, Switchyard, Trees, describe_error};
use crate::error::{Error, Step};
use crate::facts::{Decision, Fact, FactSink, Reason, Stage};
use crate::history::{Generation, History};
use crate::plan::{Action, ActionKind, Plan};
use crate::rescue;
use crate::state::{Kind, ObjectState, Unsupported};
use crate::swap::{BackupSlot, Restored, Target, check_names_free, link_into_place, restore_prior};
use crate::sys;
use crate::tree::{FsTypes, SyncSet};

/// An error, with the index of the action it belongs to (`None`: the plan's).
type ActionFailure = (Option<usize>, Error);

/// What an apply did (or, in dry-run, would do).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReport {
    pub plan_id: Uuid,
    pub actions: Vec<ActionReport>,
}

impl ApplyReport {
    /// Whether any backup had to be copied across filesystems.
    pub fn degraded(&self) -> bool {
        self.actions.iter().any(|a| a.degraded)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionReport {
    pub action_id: Uuid,
    pub target: String,
    pub before: Kind,
    pub after: Kind,
    /// `false` for a target that already was what the action asks.
    pub changed: bool,
    pub degraded: bool,
}

/// One action after preflight.
struct Prepared<'p> {
    action: &'p Action,
    target: Target,
    before: ObjectState,
    /// The inode (device, number) preflight inspected, for a prior file or symlink.
    identity: Option<(u64, u64)>,
    work: Work,
}

enum Work {
    /// Nothing to do: the target already is what the action asks.
    Noop(Reason),
    Link {
        dest: String,
        /// The generation this link will be recorded under.
        names: Names,
        /// Expected in preflight: the backup store is on another filesystem.
        degraded: bool,
        /// The sidecar once written (commit), and where.
        recorded: Option<(Sidecar, BackupSlot)>,
    },
    Restore {
        sidecar: Sidecar,
        slot: BackupSlot,
    },
}

impl Prepared<'_> {
    fn after_kind(&self) -> Kind {
        match &self.work {
            Work::Noop(_) => self.before.kind(),
            Work::Link { .. } => Kind::Symlink,
            Work::Restore { sidecar, .. } => sidecar.prior.kind(),
        }
    }
}

impl Switchyard {
    /// Applies a plan. In [`ApplyMode::DryRun`] nothing on disk changes and the facts are those a
    /// commit would emit, redacted; a gate the commit would fail (no lock manager, no smoke
    /// runner, no rescue toolset) is a `warn` fact with the error id it would have. On any
    /// failure during a commit, the changes already made are rolled back before the error is
    /// returned.
    pub fn apply(
        &self,
        plan: &Plan,
        mode: ApplyMode,
        sink: &mut dyn FactSink,
    ) -> Result<ApplyReport, Error> {
        let mut out = Emitter::new(sink, plan.id(), mode == ApplyMode::DryRun);
        let result = self.apply_plan(plan, mode, &mut out);
        let summary = out.summary(
            Stage::ApplyResult,
            plan.actions().len(),
            result.as_ref().err(),
        );
        out.emit(summary);
        out.sync();
        out.finish(result)
    }

    fn apply_plan(
        &self,
        plan: &Plan,
        mode: ApplyMode,
        out: &mut Emitter<'_>,
    ) -> Result<ApplyReport, Error> {
        for action in plan.actions() {
            out.emit(out.action_fact(Stage::Plan, Decision::Success, action));
        }
        let _lock = match mode {
            ApplyMode::Commit => self.lock(out)?,
            ApplyMode::DryRun => None,
        };
        let mut trees = Trees::open(plan, &self.policy).inspect_err(|e| {
            out.emit(out.failure(Stage::Preflight, e));
        })?;
        let prepared = self.preflight(plan, mode, &mut trees, out)?;
        for p in &prepared {
            out.emit(out.action_fact(Stage::ApplyAttempt, Decision::Success, p.action));
        }
        match mode {
            ApplyMode::DryRun => {
                let predicted =
                    |p: &Prepared<'_>| matches!(p.work, Work::Link { degraded: true, .. });
                for p in &prepared {
                    self.emit_result(out, p, predicted(p));
                }
                Ok(report(plan, &prepared, |i| predicted(&prepared[i])))
            }
            ApplyMode::Commit => self.commit(plan, prepared, trees, out),
        }
    }

    fn preflight<'p>(
        &self,
        plan: &'p Plan,
        mode: ApplyMode,
        trees: &mut Trees,
        out: &mut Emitter<'_>,
    ) -> Result<Vec<Prepared<'p>>, Error> {
        let mut prepared = Vec::with_capacity(plan.actions().len());
        let mut seen = HashSet::new();
        let mut fs_types = FsTypes::default();
        for action in plan.actions() {
            let p = self.prepare(action, trees, &mut seen).inspect_err(|e| {
                let mut fact = out.action_fact(Stage::Preflight, Decision::Failure, action);
                describe_error(&mut fact, e);
                out.emit(fact);
            })?;
            let mut fact = out.action_fact(Stage::Preflight, Decision::Success, action);
            fact.before_kind = Some(p.before.kind());
            if mode == ApplyMode::Commit {
                fact.fs_type = fs_types.of(&p.target.dir);
            }
            if let Work::Link { dest, .. } = &p.work {
                fact.link_dest = Some(dest.clone());
            }
            if let Work::Noop(reason) = p.work {
                fact.reason = Some(reason);
            }
            out.emit(fact);
            prepared.push(p);
        }

        // A dry run goes through every gate too; what would stop a commit is a warning there.
        let mut warnings = Vec::new();
        let mut gate = |refusal: Error| match mode {
            ApplyMode::Commit => Err(refusal),
            ApplyMode::DryRun => {
                warnings.push(refusal);
                Ok(())
            }
        };
        let mut gates = || -> Result<Option<&'static str>, Error> {
            if mode == ApplyMode::DryRun && self.policy.require_lock && !self.has_lock() {
                gate(Error::NoLockManager)?;
            }
            if self.policy.require_smoke && self.smoke.is_none() {
                gate(Error::NoSmokeRunner)?;
            }
            if self.policy.require_rescue {
                match rescue::verify(&self.policy.rescue, plan) {
                    Ok(toolset) => return Ok(Some(toolset)),
                    Err(refusal) => gate(refusal)?,
                }
            }
            Ok(None)
        };
        let gated = gates();
        for refusal in &warnings {
            out.emit(out.warning(Stage::Preflight, refusal));
        }
        match gated {
            Ok(toolset) => {
                let mut fact = out.fact(Stage::Preflight, Decision::Success);
                fact.rescue_toolset = toolset.map(str::to_owned);
                fact.actions = Some(prepared.len());
                out.emit(fact);
                Ok(prepared)
            }
            Err(e) => {
                out.emit(out.failure(Stage::Preflight, &e));
                Err(e)
            }
        }
    }

    fn prepare<'p>(
        &self,
        action: &'p Action,
        trees: &mut Trees,
        seen: &mut HashSet<((u64, u64), OsString)>,
    ) -> Result<Prepared<'p>, Error> {
        let target = trees.target(action)?;
        if !seen.insert((target.dir.key(), target.name.clone())) {
            return Err(Error::DuplicateTarget {
                target: target.rel.clone(),
            });
        }
        let inspect = |source| Error::Io {
            target: target.rel.clone(),
            step: Step::Inspect,
            source,
        };
        // Taken before the fingerprint: a replacement in between fails one check or the other.
        let meta = sys::lstat_at(target.dir.fd(), &target.name).map_err(inspect)?;
        let identity = meta.as_ref().map(|m| (m.dev, m.ino));
        let before = match ObjectState::capture_given(target.dir.fd(), &target.name, meta.as_ref())
        {
            Ok(Ok(state)) => state,
            Ok(Err(Unsupported::Kind(found))) => {
                return Err(Error::UnsupportedKind {
                    target: target.rel.clone(),
                    found,
                });
            }
            Ok(Err(Unsupported::NonUtf8Link)) => {
                return Err(Error::UnsupportedKind {
                    target: target.rel.clone(),
                    found: "symlink with a non-UTF-8 destination",
                });
            }
            Err(source) => {
                return Err(Error::Io {
                    target: target.rel.clone(),
                    step: Step::Inspect,
                    source,
                });
            }
        };
        let work = match action.kind() {
            ActionKind::Link { source } => {
                self.check_source(trees, source, &target, identity)?;
                let dest = self
                    .policy
                    .link_style
                    .destination(target.dir.real_rel(), source);
                if before == (ObjectState::Symlink { dest: dest.clone() })
                    && !defect!(BackupPlacedLinkAgain)
                {
                    Work::Noop(Reason::AlreadyLinked)
                } else {
                    let degraded =
                        before != ObjectState::None && trees.store_is_elsewhere(&target.dir)?;
                    if degraded && !self.policy.allow_degraded {
                        return Err(Error::CrossFilesystem {
                            target: target.rel.clone(),
                        });
                    }
                    let slot_dir = trees.backup_dir(&target, None)?;
                    let generation = match &slot_dir {
                        Some(dir) => {
                            trees
                                .generations(dir, &target)?
                                .last()
                                .copied()
                                .unwrap_or(0)
                                + 1
                        }
                        None => 1,
                    };
                    let names = Names::new(&target.name, generation);
                    check_names_free(trees, &target, slot_dir.as_deref(), &names)?;
                    Work::Link {
                        dest,
                        names,
                        degraded,
                        recorded: None,
                    }
                }
            }
            ActionKind::Restore => {
                let newest = History::read(trees, &target)?.generations.pop();
                let Some(Generation { sidecar, slot, .. }) = newest else {
                    return Err(Error::NoBackup {
                        target: target.rel.clone(),
                        sidecar: Names::new(&target.name, 1)
                            .sidecar
                            .to_string_lossy()
                            .into_owned(),
                    });
                };
                if before == sidecar.prior {
                    Work::Noop(Reason::IdempotentNoop)
                } else if before != sidecar.placed && !defect!(RestoreWithoutDriftCheck) {
                    return Err(Error::Drift {
                        target: target.rel.clone(),
                        found: before.describe(),
                    });
                } else {
                    Work::Restore { sidecar, slot }
                }
            }
        };
        Ok(Prepared {
            action,
            target,
            before,
            identity,
            work,
        })
    }

    /// A link source must exist inside the root as a regular file (through symlinks, which
    /// resolve inside the root), must not be the target itself under any name, and, under
    /// production policy, be changeable only by root.
    fn check_source(
        &self,
        trees: &mut Trees,
        source: &std::path::Path,
        target: &Target,
        target_identity: Option<(u64, u64)>,
    ) -> Result<(), Error> {
        let text = || source.to_string_lossy().into_owned();
        let is_target = || Error::SourceIsTarget {
            source_path: text(),
            target: target.rel.clone(),
        };
        let meta = match trees.root.stat_following(source) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::BadSource {
                    source_path: text(),
                    problem: "does not exist",
                });
            }
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                return Err(Error::BadSource {
                    source_path: text(),
                    problem: "is a symlink loop",
                });
            }
            Err(source) => {
                return Err(Error::Io {
                    target: text(),
                    step: Step::Inspect,
                    source,
                });
            }
        };
        if meta.file_type != FileType::RegularFile {
            return Err(Error::BadSource {
                source_path: text(),
                problem: "is not a regular file",
            });
        }
        // The same entry under another name (merged /usr), or a symlink chain ending at the
        // target's own file: after the swap the link would lead to itself.
        let source_dir = trees
            .root
            .dir(source.parent().unwrap_or(std::path::Path::new("")))
            .map_err(|source| Error::Io {
                target: text(),
                step: Step::ResolveParent,
                source,
            })?;
        let same_entry = source_dir.key() == target.dir.key()
            && source.file_name() == Some(target.name.as_os_str());
        let same_file = target_identity == Some((meta.dev, meta.ino));
        if same_entry || same_file {
            return Err(is_target());
        }
        if self.policy.require_root_owned_sources && (meta.uid != 0 || meta.mode & 0o022 != 0) {
            return Err(Error::SourceOwnership {
                source_path: text(),
                uid: meta.uid,
                mode: meta.mode,
            });
        }
        Ok(())
    }

    fn commit(
        &self,
        plan: &Plan,
        mut prepared: Vec<Prepared<'_>>,
        mut trees: Trees,
        out: &mut Emitter<'_>,
    ) -> Result<ApplyReport, Error> {
        let mut sync = SyncSet::default();

        // Phase 1: every sidecar, durable before any swap it describes.
        let written = self
            .write_sidecars(plan, &mut prepared, &mut trees, &mut sync)
            .and_then(|written| {
                if defect!(SidecarAfterSwap) {
                    return Ok(Some(written));
                }
                self.publish_sidecars(&prepared, &written, &mut sync)
                    .map(|()| None)
            });
        let unpublished = match written {
            Ok(unpublished) => unpublished,
            Err((failed, e)) => {
                discard_sidecars(&prepared, &[]);
                out.emit(failure_fact(out, &prepared, failed, &e));
                return Err(e);
            }
        };
        crash_point!(ApplyAfterSidecars);

        // Phase 2: the swaps, then one sync per touched directory.
        let mut done: Vec<(usize, bool)> = Vec::new();
        let mut failure = None;
        for (i, p) in prepared.iter().enumerate() {
            let swapped = match &p.work {
                Work::Noop(_) => continue,
                Work::Link { dest, recorded, .. } => {
                    let (_, slot) = recorded.as_ref().expect("phase 1 records every link");
                    sync.add(&slot.dir);
                    link_into_place(
                        &p.target,
                        dest,
                        (&p.before, p.identity),
                        slot,
                        self.policy.allow_degraded,
                    )
                }
                Work::Restore { sidecar, slot } => {
                    sync.add(&slot.dir);
                    restore_prior(&p.target, sidecar, slot, defect!(RestoreWithoutDriftCheck))
                        .map(|r| matches!(r, Restored::Done { degraded: true, .. }))
                }
            };
            sync.add(&p.target.dir);
            match swapped {
                Ok(degraded) => done.push((i, degraded)),
                Err(e) => {
                    failure = Some((Some(i), e));
                    break;
                }
            }
        }
        if failure.is_none()
            && let Some(written) = &unpublished
        {
            failure = self.publish_sidecars(&prepared, written, &mut sync).err();
        }
        if failure.is_none() {
            let synced = if defect!(NoDirFsync) {
                Ok(())
            } else {
                sync.sync_dirs()
            };
            match synced {
                Ok(()) => crash_point!(ApplyAfterFsync),
                Err(e) => failure = Some((None, e)),
            }
        }
        if let Some((failed, e)) = failure {
            out.emit(failure_fact(out, &prepared, failed, &e));
            let mut finished: Vec<usize> = done.iter().map(|(i, _)| *i).collect();
            // An original that could not be put back is described by its sidecar alone.
            if let (Some(i), Error::Stranded { .. }) = (failed, &e) {
                finished.push(i);
            }
            discard_sidecars(&prepared, &finished);
            return Err(undone(e, self.undo(&prepared, &done, out)));
        }

        for (i, p) in prepared.iter().enumerate() {
            let degraded = done.iter().any(|&(j, d)| j == i && d);
            self.emit_result(out, p, degraded);
        }
        // What is reported as committed is durable before anything else happens.
        out.sync();

        if let Err(e) = self.health_check(&prepared, &done, out) {
            if self.policy.auto_rollback || defect!(AutoRollbackIgnored) {
                return Err(undone(e, self.undo(&prepared, &done, out)));
            }
            return Err(e);
        }
        Ok(report(plan, &prepared, |i| {
            done.iter().any(|&(j, d)| j == i && d)
        }))
    }

    fn write_sidecars(
        &self,
        plan: &Plan,
        prepared: &mut [Prepared<'_>],
        trees: &mut Trees,
        sync: &mut SyncSet,
    ) -> Result<Vec<(usize, SidecarTemp)>, ActionFailure> {
        let mut written = Vec::new();
        for (i, p) in prepared.iter_mut().enumerate() {
            let Work::Link {
                dest,
                names,
                recorded,
                ..
            } = &mut p.work
            else {
                continue;
            };
            let dir = trees
                .backup_dir(&p.target, Some(sync))
                .map_err(|e| (Some(i), e))?
                .expect("a backup directory is created on demand");
            let sidecar = Sidecar {
                schema_version: SIDECAR_SCHEMA,
                plan_id: plan.id(),
                action_id: p.action.id(),
                target: p.target.rel.clone(),
                generation: names.generation,
                prior: p.before.clone(),
                placed: ObjectState::Symlink { dest: dest.clone() },
                backup: (p.before != ObjectState::None)
                    .then(|| names.backup.to_string_lossy().into_owned()),
            };
            let stale_temp = trees
                .lists(&dir, &p.target, names.generation, EngineFile::SidecarTemp)
                .map_err(|e| (Some(i), e))?;
            match sidecar.write_temp(dir.fd(), names, stale_temp) {
                Ok(file) => written.push((i, file)),
                Err(source) => {
                    // write_temp removed a partial temporary of its own; a name in the way that
                    // is not the engine's stays where it is.
                    let e = Error::Io {
                        target: p.target.rel.clone(),
                        step: Step::WriteSidecar,
                        source,
                    };
                    return Err((Some(i), e));
                }
            }
            sync.add(&dir);
            let slot = BackupSlot {
                dir,
                names: names.clone(),
            };
            *recorded = Some((sidecar, slot));
        }
        sys::fdatasync_all(&written).map_err(|(i, source)| {
            let e = Error::Io {
                target: prepared[i].target.rel.clone(),
                step: Step::WriteSidecar,
                source,
            };
            (Some(i), e)
        })?;
        Ok(written)
    }

    /// Gives each synced sidecar its name, then syncs their directories.
    fn publish_sidecars(
        &self,
        prepared: &[Prepared<'_>],
        written: &[(usize, SidecarTemp)],
        sync: &mut SyncSet,
    ) -> Result<(), (Option<usize>, Error)> {
        for (i, temp) in written {
            let p = &prepared[*i];
            if let Work::Link {
                recorded: Some((_, slot)),
                ..
            } = &p.work
            {
                Sidecar::publish(temp, slot.dir.fd(), &slot.names).map_err(|source| {
                    let e = Error::Io {
                        target: p.target.rel.clone(),
                        step: Step::WriteSidecar,
                        source,
                    };
                    (Some(*i), e)
                })?;
            }
        }
        sync.sync_dirs().map_err(|e| (None, e))
    }

    fn emit_result(&self, out: &mut Emitter<'_>, p: &Prepared<'_>, degraded: bool) {
        let mut fact = out.action_fact(Stage::ApplyResult, Decision::Success, p.action);
        fact.before_kind = Some(p.before.kind());
        fact.after_kind = Some(p.after_kind());
        match &p.work {
            Work::Noop(reason) => fact.reason = Some(*reason),
            Work::Link { dest, names, .. } => {
                fact.link_dest = Some(dest.clone());
                if p.before != ObjectState::None {
                    fact.backup = Some(names.backup.to_string_lossy().into_owned());
                }
            }
            Work::Restore { slot, .. } => {
                fact.backup = Some(slot.names.backup.to_string_lossy().into_owned());
            }
        }
        if degraded {
            fact.degraded = Some(true);
            fact.reason = Some(Reason::CrossFilesystemCopy);
        }
        out.emit(fact);
    }

    fn health_check(
        &self,
        prepared: &[Prepared<'_>],
        done: &[(usize, bool)],
        out: &mut Emitter<'_>,
    ) -> Result<(), Error> {
        let Some(runner) = &self.smoke else {
            return Ok(());
        };
        for &(i, _) in done {
            let p = &prepared[i];
            if !matches!(p.work, Work::Link { .. }) {
                continue;
            }
            if let Err(failure) = runner.check(p.action.target()) {
                let mut fact = out.action_fact(Stage::ApplyResult, Decision::Failure, p.action);
                fact.check_status = failure.exit_status;
                fact.check_output = Some(failure.output_tail.clone());
                let e = Error::Smoke {
                    target: p.target.rel.clone(),
                    failure,
                };
                describe_error(&mut fact, &e);
                out.emit(fact);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Undoes the changes of this apply, newest first: links go back to their prior objects,
    /// restores get their links back. Emits `rollback` facts and a `rollback.summary`, and
    /// returns the first failure.
    fn undo(
        &self,
        prepared: &[Prepared<'_>],
        done: &[(usize, bool)],
        out: &mut Emitter<'_>,
    ) -> Option<Error> {
        let mut sync = SyncSet::default();
        let mut fs_types = FsTypes::default();
        let mut first_error = None;
        let mut undone_links = Vec::new();
        for &(i, _) in done.iter().rev() {
            let p = &prepared[i];
            let undone = match &p.work {
                Work::Noop(_) => continue,
                Work::Link { recorded, .. } => {
                    let (sidecar, slot) = recorded.as_ref().expect("done links are recorded");
                    sync.add(&slot.dir);
                    restore_prior(&p.target, sidecar, slot, false).map(|_| undone_links.push(slot))
                }
                Work::Restore { sidecar, slot } => {
                    sync.add(&slot.dir);
                    match &sidecar.placed {
                        ObjectState::Symlink { dest } => link_into_place(
                            &p.target,
                            dest,
                            (&sidecar.prior, None),
                            slot,
                            self.policy.allow_degraded,
                        )
                        .map(|_| ()),
                        other => Err(Error::BadSidecar {
                            sidecar: slot.names.sidecar.to_string_lossy().into_owned(),
                            reason: format!("it placed {}, not a link", other.describe()),
                        }),
                    }
                }
            };
            sync.add(&p.target.dir);
            let mut fact = out.action_fact(Stage::Rollback, Decision::Success, p.action);
            fact.before_kind = Some(p.after_kind());
            fact.after_kind = Some(p.before.kind());
            fact.reason = Some(Reason::AutoRollback);
            fact.fs_type = fs_types.of(&p.target.dir);
            if let Err(e) = undone {
                fact.decision = Decision::Failure;
                describe_error(&mut fact, &e);
                first_error.get_or_insert(e);
            }
            out.emit(fact);
        }
        match sync.sync_dirs() {
            Ok(()) => remove_undone_sidecars(&undone_links),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
        let summary = out.summary(Stage::RollbackSummary, done.len(), first_error.as_ref());
        out.emit(summary);
        first_error
    }
}

/// The error of a failed apply: its cause, or, when the undo failed too, both.
fn undone(cause: Error, undo: Option<Error>) -> Error {
    match undo {
        None => cause,
        Some(undo) => Error::UndoFailed {
            cause: Box::new(cause),
            undo: Box::new(undo),
        },
    }
}

/// The `apply.result` failure of the action that failed (or of the plan, for a failure that
/// belongs to no single action, such as a sync).
fn failure_fact(
    out: &Emitter<'_>,
    prepared: &[Prepared<'_>],
    failed: Option<usize>,
    e: &Error,
) -> Fact {
    let mut fact = match failed {
        Some(i) => out.action_fact(Stage::ApplyResult, Decision::Failure, prepared[i].action),
        None => out.fact(Stage::ApplyResult, Decision::Failure),
    };
    describe_error(&mut fact, e);
    fact
}

/// Removes the sidecars of actions that did not complete: they describe swaps that never
/// happened (or were undone in place). A name is removed only while it holds the very record
/// this apply wrote: one that was never published, or a file another process put there since
/// preflight (which is what made the publish fail), is not this apply's to remove.
/// A failed commit leaves no sidecars behind: once every undone target is durably its prior
/// object again, the sidecar of each undone swap records a change that no longer exists. It goes
/// only after that sync, so a crash before it leaves a record rollback and tidy still read. A
/// sidecar that cannot be removed is clutter, not a risk: tidy removes it later.
fn remove_undone_sidecars(slots: &[&BackupSlot]) {
    let mut sync = SyncSet::default();
    for slot in slots {
        if sys::unlink_if_exists(slot.dir.fd(), &slot.names.sidecar).is_ok() {
            sync.add(&slot.dir);
        }
    }
    let _ = sync.sync_dirs();
}

fn discard_sidecars(prepared: &[Prepared<'_>], finished: &[usize]) {
    for (i, p) in prepared.iter().enumerate() {
        if finished.contains(&i) {
            continue;
        }
        if let Work::Link {
            recorded: Some((sidecar, slot)),
            ..
        } = &p.work
        {
            for name in [&slot.names.sidecar_tmp, &slot.names.sidecar] {
                if sidecar.is_at(slot.dir.fd(), name) {
                    let _ = sys::unlink_if_exists(slot.dir.fd(), name);
                }
            }
            let _ = sys::fsync(slot.dir.fd());
        }
    }
}

fn report(plan: &Plan, prepared: &[Prepared<'_>], degraded: impl Fn(usize) -> bool) -> ApplyReport {
    ApplyReport {
        plan_id: plan.id(),
        actions: prepared
            .iter()
            .enumerate()
            .map(|(i, p)| ActionReport {
                action_id: p.action.id(),
                target: p.target.rel.clone(),
                before: p.before.kind(),
                after: p.after_kind(),
                changed: !matches!(p.work, Work::Noop(_)),
                degraded: degraded(i),
            })
            .collect(),
    }
}
