//! One trial, in the trial child process: for each variant, a fresh filesystem, the starting
//! tree, every step through the engine, and the canonical transcript.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;
use switchyard::ErrorId;

use super::answers;
use super::checks;
use super::crash::{self, CrashContext, CrashVariant, without_sidecars};
use super::engine::{Layout, lock_bound, wants_same_filesystem_store, wants_second_filesystem};
use super::faults::Faults;
use super::outside::Outside;
use super::recorded;
use super::step::{
    Answer, Occurrence, StepError, StepOp, StepRequest, plan_for, run_to_end, watched,
};
use super::strays;
use super::tree;
use super::verdicts::{PriorInodes, lock_wait};
use crate::error::chain;
use crate::fixture::{Filesystem, FixtureError};
use crate::fs_kind::FsKind;
use crate::report::{CrashStates, Failure, FailureKind};
use crate::scenario::{self, CrashMethod, Scenario, Step};
use crate::transcript::{Snapshot, Transcript};

/// What the runner asks of a trial child.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrialRequest {
    pub scenario_file: PathBuf,
    pub fs: FsKind,
    /// An empty directory the child owns; every fixture lives under it.
    pub dir: PathBuf,
}

/// What a trial child reports back: its transcript so far and, if it failed, why.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrialReport {
    pub transcript: String,
    pub failure: Option<Failure>,
    /// Recorded crash states checked.
    #[serde(default)]
    pub crash_states: CrashStates,
}

/// What a variant of a trial does at the crash step.
#[derive(Clone, Debug)]
enum Variant {
    /// No crash step: the scenario as written.
    Plain,
    /// Runs the crash step to its end and records every crash point it reaches: the list the
    /// crash variants are made from.
    Probe,
    Crash(CrashVariant),
    /// The crash step recorded on the block level, and every crash state of its log checked.
    Recorded,
}

/// The filesystem of a crash trial's backup store when it is on a second filesystem.
const STORE_BLOCK_FS: FsKind = FsKind::Ext4;

/// Runs every variant of the trial: one, or a probe and then one per occurrence of a chosen
/// crash point and method (and one recorded variant). Runs in the trial child, which leads its
/// own process group: what a variant started is killed at its end.
pub fn run_trial(req: &TrialRequest) -> TrialReport {
    let mut t = Transcript::new();
    let scenario = match scenario::load_file(&req.scenario_file) {
        Ok(s) => s,
        Err(e) => {
            return TrialReport {
                transcript: String::new(),
                failure: Some(Failure::new(FailureKind::Harness, e.to_string())),
                crash_states: CrashStates::default(),
            };
        }
    };
    let mut crash_states = CrashStates::default();
    let failure = run_variants(&scenario, req, &mut t, &mut crash_states).err();
    TrialReport {
        transcript: t.into_string(),
        failure,
        crash_states,
    }
}

fn run_variants(
    scenario: &Scenario,
    req: &TrialRequest,
    t: &mut Transcript,
    crash_states: &mut CrashStates,
) -> Result<(), Failure> {
    let Some(spec) = scenario.crash() else {
        run_variant(scenario, req.fs, &req.dir.join("v0"), &Variant::Plain, t)?;
        return Ok(());
    };
    let stopping: Vec<CrashMethod> = spec
        .how
        .iter()
        .copied()
        .filter(|&how| how != CrashMethod::Recorded)
        .collect();
    if !stopping.is_empty() {
        run_stopped_variants(scenario, req, spec, &stopping, t)?;
    }
    // A recorded step covers every point with the states of its one log.
    if spec.how.contains(&CrashMethod::Recorded) {
        t.line(&json!({ "variant": CrashMethod::Recorded.as_str() }));
        let dir = req.dir.join("recorded");
        *crash_states += run_variant(scenario, req.fs, &dir, &Variant::Recorded, t)?.1;
    }
    Ok(())
}

/// The probe, then one variant per occurrence of a chosen crash point and stopping method.
fn run_stopped_variants(
    scenario: &Scenario,
    req: &TrialRequest,
    spec: &scenario::CrashSpec,
    stopping: &[CrashMethod],
    t: &mut Transcript,
) -> Result<(), Failure> {
    t.line(&json!({ "variant": "probe" }));
    let (reached, _) = run_variant(scenario, req.fs, &req.dir.join("probe"), &Variant::Probe, t)?;
    if let Some(missing) = spec
        .listed()
        .iter()
        .find(|p| !reached.iter().any(|o| o.point == **p))
    {
        return Err(Failure::new(
            FailureKind::Expectation,
            format!("the crash step never reaches {missing}, which the scenario names"),
        )
        .with_checks([checks::CRASH_POINTS]));
    }
    let variants = reached
        .into_iter()
        .filter(|o| spec.selects(o.point))
        .flat_map(|at| {
            stopping.iter().map(move |&how| CrashVariant {
                at: at.clone(),
                how,
            })
        })
        .collect::<Vec<_>>();
    if variants.is_empty() {
        return Err(Failure::new(
            FailureKind::Expectation,
            "the crash step reaches no crash point the scenario asks for",
        )
        .with_checks([checks::CRASH_POINTS]));
    }
    for (n, variant) in variants.into_iter().enumerate() {
        t.line(&json!({ "variant": variant.name() }));
        let dir = req.dir.join(format!("v{n}"));
        run_variant(scenario, req.fs, &dir, &Variant::Crash(variant), t)?;
    }
    Ok(())
}

fn fixture_failure(e: FixtureError) -> Failure {
    let kind = if e.is_prerequisite() {
        FailureKind::Prerequisite
    } else {
        FailureKind::Harness
    };
    Failure::new(kind, chain(&e))
}

fn harness(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::new(FailureKind::Harness, format!("{what}: {e}"))
}

/// One variant on a fresh filesystem. Returns the crash points the crash step reached (a probe's
/// list; empty otherwise) and the recorded crash states checked.
fn run_variant(
    scenario: &Scenario,
    kind: FsKind,
    dir: &Path,
    variant: &Variant,
    t: &mut Transcript,
) -> Result<(Vec<Occurrence>, CrashStates), Failure> {
    for sub in ["fs", "store"] {
        fs::create_dir_all(dir.join(sub)).map_err(|e| harness("trial directory", e))?;
    }
    let recorded = matches!(variant, Variant::Recorded);
    let mut fs = if recorded {
        Filesystem::create_recorded(kind, &dir.join("fs"))
    } else {
        Filesystem::create(kind, &dir.join("fs"))
    }
    .map_err(fixture_failure)?;
    let store_dir = dir.join("store");
    let store_fs = match (wants_second_filesystem(&scenario.policy), variant) {
        (false, _) => None,
        // Where a crash loses what was not synced, the store is on a block filesystem of its
        // own, so the crash loses there what an unsynced write to a disk loses and the order in
        // which the engine syncs the two filesystems is what is tested: recorded too for
        // recorded trials (the states cover both disks' writes and flushes), shut down with the
        // filesystem under test by a power cut.
        (true, Variant::Recorded) => Some(Filesystem::create_recorded(STORE_BLOCK_FS, &store_dir)),
        (true, Variant::Crash(c)) if c.how == CrashMethod::PowerCut => {
            Some(Filesystem::create(STORE_BLOCK_FS, &store_dir))
        }
        // A killed process loses nothing from the page cache of either filesystem, and a probe
        // only lists the points the step reaches: tmpfs serves them as well, at no image's cost.
        (true, Variant::Plain | Variant::Probe | Variant::Crash(_)) => {
            Some(Filesystem::create(FsKind::Tmpfs, &store_dir))
        }
    };
    let mut store_fs = store_fs.transpose().map_err(fixture_failure)?;
    let mut faults = Faults::default();
    let result = prepare(scenario, &fs, store_fs.as_ref(), dir).and_then(|layout| {
        let mut steps = Steps {
            scenario,
            layout: &layout,
            dir,
            faults: &mut faults,
            baseline: Snapshot::new(),
            baseline_inodes: PriorInodes::default(),
            prior_inodes: PriorInodes::default(),
        };
        steps.run_all(&mut fs, store_fs.as_mut(), variant, t)
    });
    let cleared = faults
        .clear_all(&fs)
        .map_err(|e| harness("clearing faults", e));
    strays::kill_strays();
    let closed = [Some(fs), store_fs]
        .into_iter()
        .flatten()
        .map(|f| f.close().map_err(fixture_failure))
        .collect::<Result<Vec<()>, Failure>>();
    let ended = result?;
    cleared.and(closed).map(|_| ended)
}

/// Creates the scenario root (and a same-filesystem store) and the starting tree.
fn prepare(
    scenario: &Scenario,
    fs: &Filesystem,
    store_fs: Option<&Filesystem>,
    dir: &Path,
) -> Result<Layout, Failure> {
    let mkdir = |path: &Path, mode| -> io::Result<()> {
        fs::create_dir(path)?;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    };
    let root = fs.mount_point().join("root");
    mkdir(&root, 0o755).map_err(|e| harness("scenario root", e))?;
    let store = match store_fs {
        // A block filesystem's root holds its own entries (lost+found): keep them out.
        Some(store) if store.kind().is_block() => {
            let store = store.mount_point().join("store");
            mkdir(&store, 0o700).map_err(|e| harness("backup store", e))?;
            Some(store)
        }
        Some(store) => Some(store.mount_point().to_owned()),
        None if wants_same_filesystem_store(&scenario.policy) => {
            let store = fs.mount_point().join("store");
            mkdir(&store, 0o700).map_err(|e| harness("backup store", e))?;
            Some(store)
        }
        None => None,
    };
    for (rel, entry) in &scenario.tree {
        tree::put(&root, rel, entry)
            .map_err(|e| harness(&format!("building the tree at {rel}"), e))?;
    }
    // The tree stands for installed files, durable before the engine starts (as a package
    // manager leaves them): a power cut may lose only what the engine itself left unsynced.
    fs.sync().map_err(fixture_failure)?;
    Ok(Layout {
        root,
        lock: dir.join("engine.lock"),
        store,
    })
}

/// The inodes of an apply step's link targets now.
fn inodes_of(layout: &Layout, apply: &scenario::ApplyStep) -> io::Result<PriorInodes> {
    let mut inodes = PriorInodes::default();
    inodes.record(&layout.root, apply.link.iter().map(|l| l.target.as_str()))?;
    Ok(inodes)
}

struct Steps<'a> {
    scenario: &'a Scenario,
    layout: &'a Layout,
    dir: &'a Path,
    faults: &'a mut Faults,
    /// The tree before the most recent apply step.
    baseline: Snapshot,
    /// Each link target's inode when `baseline` was taken: what recovery from a crash must put
    /// back where the backups are on the targets' filesystem.
    baseline_inodes: PriorInodes,
    /// Each link target's inode before the first apply that named it.
    prior_inodes: PriorInodes,
}

impl Steps<'_> {
    fn run_all(
        &mut self,
        fs: &mut Filesystem,
        store_fs: Option<&mut Filesystem>,
        variant: &Variant,
        t: &mut Transcript,
    ) -> Result<(Vec<Occurrence>, CrashStates), Failure> {
        let outside = Outside::take(fs.mount_point())?;
        for (i, step) in self.scenario.steps.iter().enumerate() {
            t.line(&json!({"step": i + 1, "op": step.name()}));
            let crashes = matches!(step, Step::Apply(a) if a.crash.is_some())
                || matches!(step, Step::Rollback(r) if r.crash.is_some());
            if !crashes {
                self.run_step(i, step, fs, t)?;
                outside.check(
                    fs.mount_point(),
                    &format!("step {} ({})", i + 1, step.name()),
                )?;
                continue;
            }
            if let (Variant::Crash(_) | Variant::Recorded, Step::Apply(apply)) = (variant, step) {
                self.baseline = self.tree()?;
                self.baseline_inodes = inodes_of(self.layout, apply)
                    .map_err(|e| harness(&format!("step {}: reading inodes", i + 1), e))?;
            }
            let ctx = CrashContext {
                scenario: self.scenario,
                step: i,
                layout: self.layout,
                dir: self.dir,
                baseline: &self.baseline,
                baseline_inodes: &self.baseline_inodes,
            };
            match variant {
                Variant::Plain => {
                    self.run_step(i, step, fs, t)?;
                    outside.check(
                        fs.mount_point(),
                        &format!("step {} ({})", i + 1, step.name()),
                    )?;
                }
                Variant::Probe => {
                    let reached = self.run_step(i, step, fs, t)?;
                    for o in &reached {
                        let mut line = json!({"reached": o.point.name()});
                        if let Some(target) = &o.target {
                            line["target"] = json!(target);
                        }
                        if o.nth > 1 {
                            line["nth"] = json!(o.nth);
                        }
                        t.line(&line);
                    }
                    return Ok((reached, CrashStates::default()));
                }
                Variant::Crash(variant) => {
                    crash::run(&ctx, variant, fs, store_fs, t)?;
                    outside.check(
                        fs.mount_point(),
                        &format!("after crash trial {}", variant.name()),
                    )?;
                    return Ok((Vec::new(), CrashStates::default()));
                }
                Variant::Recorded => {
                    let mut disks: Vec<&mut Filesystem> = vec![fs];
                    disks.extend(store_fs);
                    return Ok((Vec::new(), recorded::run(&ctx, &mut disks, t)?));
                }
            }
        }
        Ok((Vec::new(), CrashStates::default()))
    }

    fn tree(&self) -> Result<Snapshot, Failure> {
        crash::tree(self.layout).map_err(|e| harness("snapshot", e))
    }

    /// Runs one step; for an engine step, returns the crash points it reached.
    fn run_step(
        &mut self,
        i: usize,
        step: &Step,
        fs: &Filesystem,
        t: &mut Transcript,
    ) -> Result<Vec<Occurrence>, Failure> {
        let n = i + 1;
        let root = &self.layout.root;
        let expectation = |check: &'static str| {
            move |msg: String| {
                Failure::new(
                    FailureKind::Expectation,
                    format!("step {n} ({}): {msg}", step.name()),
                )
                .with_checks([check])
            }
        };
        match step {
            Step::Apply(_) | Step::Rollback(_) | Step::Prune(_) => {
                if let Step::Apply(apply) = step {
                    self.baseline = without_sidecars(&self.tree()?);
                    self.baseline_inodes = inodes_of(self.layout, apply)
                        .map_err(|e| harness(&format!("step {n}: reading inodes"), e))?;
                    self.prior_inodes
                        .record(root, apply.link.iter().map(|l| l.target.as_str()))
                        .map_err(|e| harness(&format!("step {n}: reading inodes"), e))?;
                }
                let expect = match step {
                    Step::Apply(a) => a.expect,
                    Step::Rollback(r) => r.expect,
                    Step::Prune(p) => p.expect,
                    _ => None,
                };
                // An apply whose paths the engine refuses has no plan; the engine says so.
                let watched = match plan_for(self.scenario, i, root) {
                    Ok(plan) => watched(&plan),
                    Err(_) if matches!(step, Step::Apply(_)) => Vec::new(),
                    Err(e) => return Err(expectation(checks::PLAN)(e)),
                };
                let request = StepRequest {
                    scenario_file: self.scenario.file.clone(),
                    step: i,
                    op: StepOp::Step,
                    root: root.clone(),
                    lock: self.layout.lock.clone(),
                    store: self.layout.store.clone(),
                    stop: None,
                };
                let label = format!("step {n} ({})", step.name());
                let before = self.tree()?;
                let started = Instant::now();
                let ended = run_to_end(
                    &request,
                    &self.dir.join(format!("step-{n}")),
                    watched,
                    label,
                )?;
                let took = started.elapsed();
                t.facts(&ended.facts);
                self.outcome(t, ended.error, expect)
                    .map_err(expectation(checks::RESULT))?;
                self.check_answer(step, i, ended.answer.as_ref(), &before)
                    .map_err(expectation(checks::ANSWERS))?;
                // Apply, rollback and prune each take the lock: one refused for it says
                // whether it waited its bound first.
                let bound = lock_bound(&self.scenario.policy);
                if let Some(verdict) = lock_wait(&ended.facts, bound, took) {
                    t.line(&verdict);
                }
                if let Step::Rollback(_) = step {
                    let verdicts = self
                        .prior_inodes
                        .verdicts(root)
                        .map_err(|e| harness(&format!("step {n}: reading inodes"), e))?;
                    for verdict in &verdicts {
                        t.line(verdict);
                    }
                }
                t.snapshot(&self.tree()?);
                return Ok(ended.reached);
            }
            Step::Check(entries) => {
                let problems: Vec<String> = entries
                    .iter()
                    .filter_map(|(rel, want)| tree::check(root, rel, want).err())
                    .collect();
                t.line(&json!({"checked": entries.len(), "ok": problems.is_empty()}));
                if !problems.is_empty() {
                    return Err(expectation(checks::CHECK)(problems.join("; ")));
                }
                return Ok(Vec::new());
            }
            Step::Write(entries) => {
                for (rel, entry) in entries {
                    tree::write(root, rel, entry)
                        .map_err(|e| harness(&format!("step {n}: writing {rel}"), e))?;
                }
            }
            Step::Fault(fault) => {
                self.faults
                    .inject(fault, fs, root, &self.layout.lock)
                    .map_err(|e| harness(&format!("step {n}: injecting {fault}"), e))?;
                return Ok(Vec::new());
            }
            Step::Clear(fault) => {
                self.faults
                    .clear(fault, fs, root)
                    .map_err(|e| harness(&format!("step {n}: clearing {fault}"), e))?;
                return Ok(Vec::new());
            }
        }
        t.snapshot(&self.tree()?);
        Ok(Vec::new())
    }

    /// Holds the engine's report of a step that succeeded against the tree it left: a committed
    /// apply's changed flags and kinds, a rollback's restored and unchanged counts.
    fn check_answer(
        &self,
        step: &Step,
        i: usize,
        answer: Option<&Answer>,
        before: &Snapshot,
    ) -> Result<(), String> {
        let root = &self.layout.root;
        let keys = answers::Keys::new(root);
        let after = || self.tree().map_err(|f| f.message);
        let problems = match (step, answer) {
            (Step::Apply(apply), Some(Answer::Apply(report)))
                if matches!(apply.mode, scenario::ApplyMode::Commit) =>
            {
                answers::apply(report, &keys, before, &after()?)
            }
            (Step::Rollback(_), Some(Answer::Rollback(report))) => {
                let plan = plan_for(self.scenario, i, root)?;
                answers::rollback(report, &plan, &keys, before, &after()?)
            }
            _ => Vec::new(),
        };
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Records the step's result and compares it with what the scenario expects.
    fn outcome(
        &self,
        t: &mut Transcript,
        error: Option<StepError>,
        expect: Option<ErrorId>,
    ) -> Result<(), String> {
        let got = error.as_ref().map(|e| e.id);
        t.line(&json!({"result": got.map_or("ok", ErrorId::as_str)}));
        match (error, expect) {
            (None, None) => Ok(()),
            (Some(e), Some(want)) if e.id == want => Ok(()),
            (None, Some(want)) => Err(format!("expected {want}, but it succeeded")),
            (Some(e), want) => Err(format!(
                "expected {}, got {}: {}",
                want.map_or("success", ErrorId::as_str),
                e.id,
                e.message
            )),
        }
    }
}
