//! Crash trials: the crash step runs in a child process that stops at a crash point and is
//! killed there (`kill`), or whose filesystem is shut down without flushing its log first
//! (`power_cut`). Then the harness checks what survived and that rollback recovers exactly.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::json;
use switchyard::crash::{CrashPoint, Phase, set_observer};
use switchyard::{ApplyMode, EngineFile, EngineName, MemorySink, Plan, RollbackOptions};

use super::engine::{Layout, apply_plan, engine};
use crate::fixture::Filesystem;
use crate::report::{Failure, FailureKind};
use crate::scenario::{self, CrashMethod, Scenario, Step};
use crate::transcript::{Snapshot, Transcript, snapshot};

/// One crash trial of a scenario: a point and a method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CrashVariant {
    pub(crate) point: CrashPoint,
    pub(crate) how: CrashMethod,
}

impl CrashVariant {
    pub(crate) fn name(&self) -> String {
        format!("{}/{}", self.point, self.how.as_str())
    }
}

/// What the crash child needs to run the crash step on its own.
#[derive(Debug, Serialize, Deserialize)]
pub struct CrashRequest {
    pub scenario_file: PathBuf,
    /// Index of the crash step in the scenario's steps.
    pub step: usize,
    pub point: CrashPoint,
    pub root: PathBuf,
    pub lock: PathBuf,
    pub store: Option<PathBuf>,
}

const REACHED: &str = "reached";
const FINISHED: &str = "finished";

/// The plan a step works on: an apply's own plan, or for a rollback the plan of the last apply
/// before it.
pub(crate) fn plan_for(scenario: &Scenario, step: usize, root: &Path) -> Result<Plan, String> {
    scenario.steps[..=step]
        .iter()
        .rev()
        .find_map(|s| match s {
            Step::Apply(apply) => Some(apply),
            _ => None,
        })
        .ok_or_else(|| {
            format!(
                "step {}: there is no apply step before it to roll back",
                step + 1
            )
        })
        .and_then(|apply| apply_plan(root, apply).map_err(|e| e.to_string()))
}

/// The body of `fsmatrix __crash-child REQUEST`: run the step, stopping at the point.
pub fn crash_child(request: &Path) -> Result<(), String> {
    let text =
        std::fs::read_to_string(request).map_err(|e| format!("{}: {e}", request.display()))?;
    let req: CrashRequest = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let scenario = scenario::load_file(&req.scenario_file).map_err(|e| e.to_string())?;
    let point = req.point;
    set_observer(move |reached| {
        if reached == point {
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "{REACHED}");
            let _ = out.flush();
            // Stay here until the harness kills this process.
            loop {
                std::thread::park();
            }
        }
    });
    let layout = Layout {
        root: req.root.clone(),
        lock: req.lock.clone(),
        store: req.store.clone(),
    };
    let engine = engine(&scenario.policy, &layout);
    let plan = plan_for(&scenario, req.step, &req.root)?;
    let mut sink = MemorySink::default();
    let result = match &scenario.steps[req.step] {
        Step::Rollback(r) => engine
            .rollback(&plan, RollbackOptions { force: r.force }, &mut sink)
            .map(|_| ()),
        _ => engine
            .apply(&plan, ApplyMode::Commit, &mut sink)
            .map(|_| ()),
    };
    let verdict = match &result {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.id().to_string(),
    };
    println!("{FINISHED} {verdict}");
    result.map_err(|e| e.to_string())
}

/// The state a crash trial checks against.
pub(crate) struct CrashContext<'a> {
    pub(crate) scenario: &'a Scenario,
    pub(crate) step: usize,
    pub(crate) layout: &'a Layout,
    pub(crate) dir: &'a Path,
    /// The tree before the most recent apply: what recovery must bring back.
    pub(crate) baseline: &'a Snapshot,
}

/// Runs the crash step in a child, crashes it, and checks the invariants. Writes the
/// deterministic part of what happened to the transcript.
pub(crate) fn run(
    ctx: &CrashContext<'_>,
    variant: CrashVariant,
    fs: &mut Filesystem,
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
    let before = tree(ctx.layout).map_err(|e| harness("snapshot", &e))?;

    let request = CrashRequest {
        scenario_file: ctx.scenario.file.clone(),
        step: ctx.step,
        point: variant.point,
        root: root.clone(),
        lock: ctx.layout.lock.clone(),
        store: ctx.layout.store.clone(),
    };
    let request_file = ctx.dir.join("crash-request.json");
    std::fs::write(
        &request_file,
        serde_json::to_vec(&request).unwrap_or_default(),
    )
    .map_err(|e| harness("request", &e))?;
    let stderr =
        File::create(ctx.dir.join("crash-child.stderr")).map_err(|e| harness("stderr", &e))?;
    let mut child = Command::new(std::env::current_exe().map_err(|e| harness("exe", &e))?)
        .arg("__crash-child")
        .arg(&request_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| harness("spawn", &e))?;
    let mut first = String::new();
    if let Some(out) = child.stdout.take() {
        BufReader::new(out)
            .read_line(&mut first)
            .map_err(|e| harness("read", &e))?;
    }
    let reached = first.trim() == REACHED;
    if reached {
        if variant.how == CrashMethod::PowerCut {
            fs.shutdown().map_err(|e| harness("shutdown", &e))?;
        }
        let _ = child.kill();
        child.wait().map_err(|e| harness("wait", &e))?;
        if variant.how == CrashMethod::PowerCut {
            fs.remount_after_shutdown()
                .map_err(|e| harness("remount", &e))?;
        }
    } else {
        let status = child.wait().map_err(|e| harness("wait", &e))?;
        if !status.success() {
            let err =
                std::fs::read_to_string(ctx.dir.join("crash-child.stderr")).unwrap_or_default();
            return Err(Failure::new(
                FailureKind::Expectation,
                format!(
                    "crash trial {}: the step failed before reaching the point ({status}, {}): {}",
                    variant.name(),
                    first.trim(),
                    err.trim()
                ),
            ));
        }
    }
    t.line(
        &json!({"crash": variant.point.name(), "how": variant.how.as_str(), "reached": reached}),
    );

    let after = tree(ctx.layout).map_err(|e| harness("snapshot", &e))?;
    let targets: Vec<String> = plan
        .actions()
        .iter()
        .map(|a| a.target().display_rel())
        .collect();
    let mut failures = Vec::new();
    let mut invariant = |t: &mut Transcript, name: &str, problem: Option<String>| {
        t.line(&json!({"invariant": name, "ok": problem.is_none()}));
        if let Some(p) = problem {
            failures.push(format!("{name}: {p}"));
        }
    };

    // 1. Every target exists and is what it was before the step, or the new link.
    invariant(
        t,
        "targets_present",
        targets_problem(&targets, &before, &after, ctx.baseline, durable(variant)),
    );
    // 2. Everything else, including what earlier steps committed, survived the crash.
    invariant(
        t,
        "others_survived",
        survivors_problem(&targets, &before, &after),
    );
    // 3. Rollback in a fresh process brings back the exact tree before the apply.
    let recovered = engine(&ctx.scenario.policy, ctx.layout)
        .rollback(
            &plan,
            RollbackOptions::default(),
            &mut MemorySink::default(),
        )
        .map_err(|e| format!("rollback after the crash failed: {e}"))
        .and_then(|_| tree(ctx.layout).map_err(|e| e.to_string()));
    let restored = match &recovered {
        Ok(now) => {
            let (now, base) = (without_sidecars(now), without_sidecars(ctx.baseline));
            (now != base).then(|| describe_difference(&base, &now))
        }
        Err(e) => Some(e.clone()),
    };
    invariant(t, "rollback_restores_prior_tree", restored);
    // 4. No temporary file, backup or partial copy of the crashed plan is left behind (other
    //    plans' backups are still in use).
    let debris = recovered.as_ref().ok().and_then(|now| {
        let left: Vec<&String> = now
            .keys()
            .filter(|p| engine_name_of(p, &targets).is_some_and(|f| f != EngineFile::Sidecar))
            .collect();
        (!left.is_empty()).then(|| format!("left behind: {left:?}"))
    });
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
        ))
    }
}

/// The scenario root and, if there is one, the backup store.
pub(crate) fn tree(layout: &Layout) -> io::Result<Snapshot> {
    let mut snap = snapshot(&layout.root, "")?;
    if let Some(store) = &layout.store {
        snap.extend(snapshot(store, "@store/")?);
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
fn durable(variant: CrashVariant) -> Option<Phase> {
    (variant.how == CrashMethod::PowerCut)
        .then_some(variant.point)
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
fn engine_name_of(path: &str, targets: &[String]) -> Option<EngineFile> {
    engine_name(path)
        .filter(|n| targets.iter().any(|t| n.target == OsStr::new(file_name(t))))
        .map(|n| n.file)
}

/// Entries that belong to neither the crash step's targets nor their engine names must be
/// exactly as before the crash.
fn survivors_problem(targets: &[String], before: &Snapshot, after: &Snapshot) -> Option<String> {
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

fn describe_difference(expected: &Snapshot, actual: &Snapshot) -> String {
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
