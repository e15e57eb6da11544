//! Crash trials: the crash step runs in a step child that stops at one occurrence of a crash
//! point and is killed there (`kill`), or whose filesystem is shut down without flushing its log
//! first (`power_cut`). The harness checks that the tree was in the window the point names while
//! the engine stood there (`window.rs`), then what survived, and that rollback recovers exactly.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io;
use std::path::Path;

use rustix::process::{Pid, Signal, kill_process};
use serde::Serialize;
use serde_json::json;
use switchyard::crash::{CrashPoint, Phase};
use switchyard::{ActionKind, EngineFile, EngineName, Plan, store_dir_for_root};

use super::checks::CRASH_POINTS;
use super::crash_state;
use super::engine::{Layout, wants_second_filesystem};
use super::step::{
    Occurrence, Progress, Running, StepOp, StepRequest, plan_for, run_to_end, watched,
};
use super::verdicts::PriorInodes;
use super::window::{self, PlanTarget};
use crate::fixture::Filesystem;
use crate::report::{Failure, FailureKind};
use crate::scenario::{CrashMethod, Scenario, Step};
use crate::transcript::{Snapshot, Transcript, snapshot};

/// One crash trial of a scenario: where to stop and how to crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CrashVariant {
    pub(crate) at: Occurrence,
    pub(crate) how: CrashMethod,
}

impl CrashVariant {
    pub(crate) fn name(&self) -> String {
        format!("{}/{}", self.at.name(), self.how.as_str())
    }
}

/// The transcript line naming where a crash trial crashed: the point and, for a point inside an
/// action, the action's kind and target.
#[derive(Serialize)]
struct Hit<'a> {
    crash: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nth: Option<usize>,
    how: &'static str,
}

/// The state a crash trial checks against.
pub(crate) struct CrashContext<'a> {
    pub(crate) scenario: &'a Scenario,
    pub(crate) step: usize,
    pub(crate) layout: &'a Layout,
    pub(crate) dir: &'a Path,
    /// The tree before the most recent apply: what recovery must bring back.
    pub(crate) baseline: &'a Snapshot,
    /// Each link target's inode when `baseline` was taken.
    pub(crate) baseline_inodes: &'a PriorInodes,
}

impl CrashContext<'_> {
    /// After recovery: the targets that are not their prior inode, where the backup store (if
    /// any) is on their filesystem, so that a backup is the prior inode itself, renamed and
    /// renamed back. A copy with equal bytes and metadata passes the tree comparison, yet is
    /// not the prior object (open descriptors, hard links and inode-keyed state would see it).
    pub(super) fn not_prior_inodes(&self, targets: &[String]) -> io::Result<Option<String>> {
        if wants_second_filesystem(&self.scenario.policy) {
            return Ok(None);
        }
        let copies = self.baseline_inodes.not_prior(&self.layout.root, targets)?;
        Ok((!copies.is_empty()).then(|| {
            format!(
                "not the prior inode after rollback, though the backup store is on their \
                 filesystem: {}",
                copies.join(", ")
            )
        }))
    }

    pub(super) fn request(&self, op: StepOp, stop: Option<Occurrence>) -> StepRequest {
        StepRequest {
            scenario_file: self.scenario.file.clone(),
            step: self.step,
            op,
            root: self.layout.root.clone(),
            lock: self.layout.lock.clone(),
            store: self.layout.store.clone(),
            stop,
        }
    }
}

/// The plan's targets in the engine's order, with their real paths in snapshots.
fn plan_targets(plan: &Plan, layout: &Layout) -> io::Result<Vec<PlanTarget>> {
    let root = std::fs::canonicalize(&layout.root)?;
    plan.actions()
        .iter()
        .map(|a| {
            let target = a.target();
            let parent = std::fs::canonicalize(root.join(target.parent_rel()))?;
            let parent = parent
                .strip_prefix(&root)
                .map_err(io::Error::other)?
                .to_string_lossy()
                .into_owned();
            let name = target.file_name().to_string_lossy();
            let join = |dir: &str| {
                if dir.is_empty() {
                    name.to_string()
                } else {
                    format!("{dir}/{name}")
                }
            };
            let slot = match (&layout.store, parent.is_empty()) {
                (None, _) => parent.clone(),
                (Some(_), true) => "@store".to_owned(),
                (Some(_), false) => format!("@store/{parent}"),
            };
            Ok(PlanTarget {
                rel: target.display_rel(),
                path: join(&parent),
                slot,
                restore: *a.kind() == ActionKind::Restore,
            })
        })
        .collect()
}

/// Runs the crash step in a step child, crashes it at the variant's point, and checks the
/// window and the invariants. Writes the deterministic part of what happened to the transcript.
/// A power cut shuts down `fs` and the backup store's filesystem `store_fs` (if it has one) at
/// the same point: one instant for both disks.
pub(crate) fn run(
    ctx: &CrashContext<'_>,
    variant: &CrashVariant,
    fs: &mut Filesystem,
    store_fs: Option<&mut Filesystem>,
    t: &mut Transcript,
) -> Result<(), Failure> {
    let harness = |what: &str, e: &dyn std::fmt::Display| {
        Failure::new(
            FailureKind::Harness,
            format!("crash trial {}: {what}: {e}", variant.name()),
        )
    };
    let root = &ctx.layout.root;
    let plan = plan_for(ctx.scenario, ctx.step, root).map_err(|e| harness("plan", &e))?;
    let targets = plan_targets(&plan, ctx.layout).map_err(|e| harness("targets", &e))?;
    let before = tree(ctx.layout).map_err(|e| harness("snapshot before the step", &e))?;
    let phase = match ctx.scenario.steps[ctx.step] {
        Step::Rollback(_) => Phase::Rollback,
        _ => Phase::Apply,
    };

    let label = format!("step {} (crash {})", ctx.step + 1, variant.name());
    let request = ctx.request(StepOp::Step, Some(variant.at.clone()));
    let mut running = Running::spawn(
        &request,
        &ctx.dir.join("crash-step"),
        watched(&plan),
        label.clone(),
    )?;
    let Some(Progress::Stopped { pid }) = running.progress()? else {
        let reached: Vec<String> = running.reached().iter().map(Occurrence::name).collect();
        running.wait(false)?;
        return Err(Failure::new(
            FailureKind::Expectation,
            format!(
                "{label}: the step ended without reaching {}, which its probe run reached \
                 (reached: {})",
                variant.at.name(),
                reached.join(", ")
            ),
        )
        .with_checks([CRASH_POINTS]));
    };
    // The tree as the stopped engine leaves it: the window its point names.
    let at = tree(ctx.layout).map_err(|e| harness("snapshot at the point", &e))?;
    if variant.how == CrashMethod::PowerCut {
        fs.shutdown().map_err(|e| harness("shutdown", &e))?;
        if let Some(store) = store_fs.as_deref() {
            store
                .shutdown()
                .map_err(|e| harness("shutdown of the store", &e))?;
        }
    }
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| harness("kill", &format!("bad pid {pid}")))?;
    kill_process(pid, Signal::KILL).map_err(|e| harness("kill", &e))?;
    let watched_crash = running.wait(true);
    if variant.how == CrashMethod::PowerCut {
        fs.remount_after_shutdown()
            .map_err(|e| harness("remount", &e))?;
        if let Some(store) = store_fs {
            store
                .remount_after_shutdown()
                .map_err(|e| harness("remount of the store", &e))?;
        }
    }
    watched_crash?;

    let action = variant.at.target.as_ref().and_then(|target| {
        plan.actions()
            .iter()
            .find(|a| a.target().display_rel() == *target)
            .map(|a| match a.kind() {
                ActionKind::Link { .. } => "link",
                ActionKind::Restore => "restore",
            })
    });
    t.line(&Hit {
        crash: variant.at.point.name(),
        action,
        target: variant.at.target.as_deref(),
        nth: (variant.at.nth > 1).then_some(variant.at.nth),
        how: variant.how.as_str(),
    });

    let after = tree(ctx.layout).map_err(|e| harness("snapshot after the crash", &e))?;
    let target_rels: Vec<String> = targets.iter().map(|t| t.rel.clone()).collect();
    let mut failures = Vec::new();
    let mut checks = Vec::new();
    let mut invariant = |t: &mut Transcript, name: &'static str, problem: Option<String>| {
        t.line(&json!({"invariant": name, "ok": problem.is_none()}));
        if let Some(p) = problem {
            failures.push(format!("{name}: {p}"));
            checks.push(name);
        }
    };

    // 0. While the engine stood at the point, the tree was in the window the point names.
    let stop = window::Stop {
        point: variant.at.point,
        target: variant.at.target.as_deref(),
        step: phase,
        targets: &targets,
        before: &before,
        baseline: ctx.baseline,
        at: &at,
    };
    invariant(t, "crash_window", window::check(&stop));
    // 1. Every target exists and is what it was before the step, or the new link.
    invariant(
        t,
        "targets_present",
        targets_problem(
            &target_rels,
            &before,
            &after,
            ctx.baseline,
            durable(variant),
        ),
    );
    // 2. Everything else, including what earlier steps committed, survived the crash.
    invariant(
        t,
        "others_survived",
        survivors_problem(&target_rels, &before, &after),
    );
    // 3. Rollback in a fresh step child brings back the exact tree before the apply.
    let recovered = run_to_end(
        &ctx.request(StepOp::Recover, None),
        &ctx.dir.join("recover"),
        watched(&plan),
        format!("recovery after crash {}", variant.name()),
    )?
    .error
    .map_or_else(
        || tree(ctx.layout).map_err(|e| e.to_string()),
        |e| Err(format!("rollback after the crash failed: {}", e.message)),
    );
    let restored = match &recovered {
        Ok(now) => match crash_state::restored(ctx.baseline, now) {
            Some(problem) => Some(problem),
            None => ctx
                .not_prior_inodes(&target_rels)
                .map_err(|e| harness("reading inodes", &e))?,
        },
        Err(e) => Some(e.clone()),
    };
    invariant(t, "rollback_restores_prior_tree", restored);
    // 4. No debris of the crashed plan is left behind.
    let debris = recovered
        .as_ref()
        .ok()
        .and_then(|now| crash_state::debris(&target_rels, now));
    invariant(t, "no_debris", debris);
    if let Ok(now) = &recovered {
        t.snapshot(now);
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            FailureKind::CrashSafety,
            format!("crash trial {}: {}", variant.name(), failures.join("; ")),
        )
        .with_checks(checks))
    }
}

/// The scenario root and, if there is one, the root's own directory in the backup store (which the
/// engine creates on the first backup; the directory's name holds the root's host path, so it
/// is left out).
pub(crate) fn tree(layout: &Layout) -> io::Result<Snapshot> {
    let mut snap = snapshot(&layout.root, "")?;
    if let Some(store) = &layout.store {
        let ours = store_dir_for_root(store, &layout.root)?;
        if ours.exists() {
            snap.extend(snapshot(&ours, "@store/")?);
        }
    }
    Ok(snap)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn engine_name(path: &str) -> Option<EngineName<'_>> {
    EngineName::parse(OsStr::new(file_name(path)))
}

/// Sidecars are kept on purpose; every other engine name is debris.
pub(crate) fn without_sidecars(snap: &Snapshot) -> Snapshot {
    snap.iter()
        .filter(|(p, _)| engine_name(p).is_none_or(|n| n.file != EngineFile::Sidecar))
        .map(|(p, e)| (p.clone(), e.clone()))
        .collect()
}

/// What a power cut must keep once the step has synced its directories: after an apply, only
/// the new links will do; after a rollback, only the prior tree. `None` where either is fine.
fn durable(variant: &CrashVariant) -> Option<Phase> {
    (variant.how == CrashMethod::PowerCut)
        .then_some(variant.at.point)
        .and_then(|point| match point {
            CrashPoint::ApplyAfterFsync => Some(Phase::Apply),
            CrashPoint::RollbackAfterFsync => Some(Phase::Rollback),
            _ => None,
        })
}

fn targets_problem(
    targets: &[String],
    before: &Snapshot,
    after: &Snapshot,
    baseline: &Snapshot,
    durable: Option<Phase>,
) -> Option<String> {
    let mut problems = Vec::new();
    for target in targets {
        let now = after.get(target);
        let linked = now.is_some_and(|e| e.kind == "symlink");
        // Acceptable: the state before the step, the state before the apply being undone, or
        // a link (the new one); once synced, only what the step made.
        let ok = match durable {
            Some(Phase::Apply) => linked,
            Some(Phase::Rollback) => now == baseline.get(target),
            None => now == before.get(target) || now == baseline.get(target) || linked,
        };
        if !ok {
            problems.push(match now {
                None => format!("{target} is missing"),
                Some(e) => format!("{target} is an unexpected {}", e.kind),
            });
        }
    }
    (!problems.is_empty()).then(|| problems.join(", "))
}

/// What kind of engine file `path` is, if it is one of the engine's files for one of `targets`.
pub(crate) fn engine_name_of(path: &str, targets: &[String]) -> Option<EngineFile> {
    engine_name(path)
        .filter(|n| targets.iter().any(|t| n.target == OsStr::new(file_name(t))))
        .map(|n| n.file)
}

/// Entries that belong to neither the crash step's targets nor their engine names must be
/// exactly as before the crash.
pub(crate) fn survivors_problem(
    targets: &[String],
    before: &Snapshot,
    after: &Snapshot,
) -> Option<String> {
    let touched =
        |path: &str| targets.iter().any(|t| t == path) || engine_name_of(path, targets).is_some();
    let changed: Vec<&String> = before
        .iter()
        .filter(|(p, _)| !touched(p))
        .filter(|(p, e)| after.get(*p) != Some(*e))
        .map(|(p, _)| p)
        .collect();
    (!changed.is_empty()).then(|| format!("changed or lost: {changed:?}"))
}

pub(crate) fn describe_difference(expected: &Snapshot, actual: &Snapshot) -> String {
    let keys: BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    let diffs: Vec<String> = keys
        .into_iter()
        .filter(|k| expected.get(*k) != actual.get(*k))
        .map(|k| match (expected.get(k), actual.get(k)) {
            (Some(_), None) => format!("{k} is missing"),
            (None, Some(_)) => format!("{k} should not exist"),
            _ => format!("{k} differs"),
        })
        .collect();
    format!(
        "the tree differs from before the apply: {}",
        diffs.join(", ")
    )
}
