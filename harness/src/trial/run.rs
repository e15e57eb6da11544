//! One trial, in the trial child process: for each variant, a fresh filesystem, the starting
//! tree, every step through the engine, and the canonical transcript.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;
use switchyard::{ErrorId, MemorySink, Plan, RollbackOptions};

use super::crash::{self, CrashContext, CrashVariant, without_sidecars};
use super::engine::lock_bound;
use super::engine::{
    Layout, apply_plan, engine, wants_same_filesystem_store, wants_second_filesystem,
};
use super::faults::Faults;
use super::recorded;
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

/// Runs every variant of the trial: one, or one per crash point and method. Runs in the trial
/// child, which leads its own process group: what the variant started is killed at its end.
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
    let variants: Vec<Variant> = match scenario.crash() {
        None => vec![Variant::Plain],
        Some(spec) => spec
            .points()
            .into_iter()
            .flat_map(|point| {
                spec.how
                    .iter()
                    .filter(|&&how| how != CrashMethod::Recorded)
                    .map(move |&how| Variant::Crash(CrashVariant { point, how }))
            })
            // A recorded step covers every point with the states of its one log.
            .chain(
                spec.how
                    .contains(&CrashMethod::Recorded)
                    .then_some(Variant::Recorded),
            )
            .collect(),
    };
    let mut failure = None;
    let mut crash_states = CrashStates::default();
    for (n, variant) in variants.iter().enumerate() {
        match variant {
            Variant::Plain => {}
            Variant::Crash(v) => t.line(&json!({ "variant": v.name() })),
            Variant::Recorded => t.line(&json!({ "variant": CrashMethod::Recorded.as_str() })),
        }
        let dir = req.dir.join(format!("v{n}"));
        match run_variant(&scenario, req.fs, &dir, *variant, &mut t) {
            Ok(checked) => crash_states += checked,
            Err(f) => {
                failure = Some(f);
                break;
            }
        }
    }
    TrialReport {
        transcript: t.into_string(),
        failure,
        crash_states,
    }
}

/// The filesystem of a recorded trial's backup store when it is on a second filesystem.
const STORE_BLOCK_FS: FsKind = FsKind::Ext4;

/// How one run of the scenario's steps ends.
#[derive(Clone, Copy, Debug)]
enum Variant {
    /// Every step as written.
    Plain,
    /// The crash step stopped at a point by a method.
    Crash(CrashVariant),
    /// The crash step recorded on the block level, and every crash state of its log checked.
    Recorded,
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

fn run_variant(
    scenario: &Scenario,
    kind: FsKind,
    dir: &Path,
    variant: Variant,
    t: &mut Transcript,
) -> Result<CrashStates, Failure> {
    for sub in ["fs", "store"] {
        fs::create_dir_all(dir.join(sub)).map_err(|e| harness("trial directory", e))?;
    }
    let mut fs = match variant {
        Variant::Recorded => Filesystem::create_recorded(kind, &dir.join("fs")),
        Variant::Plain | Variant::Crash(_) => Filesystem::create(kind, &dir.join("fs")),
    }
    .map_err(fixture_failure)?;
    let mut store_fs = match (wants_second_filesystem(&scenario.policy), variant) {
        (false, _) => None,
        // Recorded trials keep the store on a block filesystem of its own, recorded too, so
        // the states cover the order of both filesystems' writes and flushes.
        (true, Variant::Recorded) => Some(
            Filesystem::create_recorded(STORE_BLOCK_FS, &dir.join("store"))
                .map_err(fixture_failure)?,
        ),
        (true, _) => {
            Some(Filesystem::create(FsKind::Tmpfs, &dir.join("store")).map_err(fixture_failure)?)
        }
    };
    let mut faults = Faults::default();
    let result = prepare(scenario, &fs, store_fs.as_ref(), dir).and_then(|layout| {
        let mut steps = Steps {
            scenario,
            layout: &layout,
            dir,
            faults: &mut faults,
            last_plan: None,
            baseline: Snapshot::new(),
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
    let checked = result?;
    cleared.and(closed).map(|_| checked)
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
    Ok(Layout {
        root,
        lock: dir.join("engine.lock"),
        store,
    })
}

struct Steps<'a> {
    scenario: &'a Scenario,
    layout: &'a Layout,
    dir: &'a Path,
    faults: &'a mut Faults,
    /// The plan of the most recent apply step: what `rollback` and `prune` work on.
    last_plan: Option<Plan>,
    /// The tree before the most recent apply step.
    baseline: Snapshot,
    /// Each link target's inode before the first apply that named it.
    prior_inodes: PriorInodes,
}

impl Steps<'_> {
    fn run_all(
        &mut self,
        fs: &mut Filesystem,
        store_fs: Option<&mut Filesystem>,
        variant: Variant,
        t: &mut Transcript,
    ) -> Result<CrashStates, Failure> {
        for (i, step) in self.scenario.steps.iter().enumerate() {
            t.line(&json!({"step": i + 1, "op": step.name()}));
            let crashes = matches!(step, Step::Apply(a) if a.crash.is_some())
                || matches!(step, Step::Rollback(r) if r.crash.is_some());
            if crashes && !matches!(variant, Variant::Plain) {
                if matches!(step, Step::Apply(_)) {
                    self.baseline = self.tree()?;
                }
                let ctx = CrashContext {
                    scenario: self.scenario,
                    step: i,
                    layout: self.layout,
                    dir: self.dir,
                    baseline: &self.baseline,
                };
                return match variant {
                    Variant::Crash(v) => {
                        crash::run(&ctx, v, fs, t).map(|()| CrashStates::default())
                    }
                    _ => {
                        let mut disks: Vec<&mut Filesystem> = vec![fs];
                        disks.extend(store_fs);
                        recorded::run(&ctx, &mut disks, t)
                    }
                };
            }
            self.run_step(i, step, fs, t)?;
        }
        Ok(CrashStates::default())
    }

    fn tree(&self) -> Result<Snapshot, Failure> {
        crash::tree(self.layout).map_err(|e| harness("snapshot", e))
    }

    fn run_step(
        &mut self,
        i: usize,
        step: &Step,
        fs: &Filesystem,
        t: &mut Transcript,
    ) -> Result<(), Failure> {
        let n = i + 1;
        let root = &self.layout.root;
        let expectation = |msg: String| {
            Failure::new(
                FailureKind::Expectation,
                format!("step {n} ({}): {msg}", step.name()),
            )
        };
        match step {
            Step::Apply(apply) => {
                self.baseline = without_sidecars(&self.tree()?);
                self.prior_inodes
                    .record(root, apply.link.iter().map(|l| l.target.as_str()))
                    .map_err(|e| harness(&format!("step {n}: reading inodes"), e))?;
                let mut sink = MemorySink::default();
                let started = Instant::now();
                let mode = match apply.mode {
                    scenario::ApplyMode::Commit => switchyard::ApplyMode::Commit,
                    scenario::ApplyMode::DryRun => switchyard::ApplyMode::DryRun,
                };
                let result = apply_plan(root, apply).and_then(|plan| {
                    let applied =
                        engine(&self.scenario.policy, self.layout).apply(&plan, mode, &mut sink);
                    self.last_plan = Some(plan);
                    applied.map(|_| ())
                });
                let took = started.elapsed();
                t.facts(&sink.facts);
                self.outcome(t, result, apply.expect).map_err(expectation)?;
                if let Some(verdict) =
                    lock_wait(&sink.facts, lock_bound(&self.scenario.policy), took)
                {
                    t.line(&verdict);
                }
            }
            Step::Rollback(rollback) => {
                let plan = self.last_plan.as_ref().ok_or_else(|| {
                    expectation("no apply step before it made a plan to roll back".into())
                })?;
                let mut sink = MemorySink::default();
                let result = engine(&self.scenario.policy, self.layout)
                    .rollback(
                        plan,
                        RollbackOptions {
                            force: rollback.force,
                        },
                        &mut sink,
                    )
                    .map(|_| ());
                t.facts(&sink.facts);
                self.outcome(t, result, rollback.expect)
                    .map_err(expectation)?;
                let verdicts = self
                    .prior_inodes
                    .verdicts(root)
                    .map_err(|e| harness(&format!("step {n}: reading inodes"), e))?;
                for verdict in &verdicts {
                    t.line(verdict);
                }
            }
            Step::Prune(prune) => {
                let plan = self.last_plan.as_ref().ok_or_else(|| {
                    expectation("no apply step before it made a plan to prune".into())
                })?;
                let keep = usize::try_from(prune.keep.get()).unwrap_or(usize::MAX);
                let mut sink = MemorySink::default();
                let result = engine(&self.scenario.policy, self.layout)
                    .prune(plan, keep, &mut sink)
                    .map(|_| ());
                t.facts(&sink.facts);
                self.outcome(t, result, prune.expect).map_err(expectation)?;
            }
            Step::Check(entries) => {
                let problems: Vec<String> = entries
                    .iter()
                    .filter_map(|(rel, want)| tree::check(root, rel, want).err())
                    .collect();
                t.line(&json!({"checked": entries.len(), "ok": problems.is_empty()}));
                if !problems.is_empty() {
                    return Err(expectation(problems.join("; ")));
                }
                return Ok(());
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
                return Ok(());
            }
            Step::Clear(fault) => {
                self.faults
                    .clear(fault, fs, root)
                    .map_err(|e| harness(&format!("step {n}: clearing {fault}"), e))?;
                return Ok(());
            }
        }
        t.snapshot(&self.tree()?);
        Ok(())
    }

    /// Records the step's result and compares it with what the scenario expects.
    fn outcome(
        &self,
        t: &mut Transcript,
        result: Result<(), switchyard::Error>,
        expect: Option<ErrorId>,
    ) -> Result<(), String> {
        let got = result.as_ref().err().map(switchyard::Error::id);
        t.line(&json!({"result": got.map_or("ok", ErrorId::as_str)}));
        match (result, expect) {
            (Ok(()), None) => Ok(()),
            (Err(e), Some(want)) if e.id() == want => Ok(()),
            (Ok(()), Some(want)) => Err(format!("expected {want}, but it succeeded")),
            (Err(e), want) => Err(format!(
                "expected {}, got {}: {}",
                want.map_or("success", ErrorId::as_str),
                e.id(),
                chain(&e)
            )),
        }
    }
}
