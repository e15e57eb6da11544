//! One trial, in the trial child process: for each variant, a fresh filesystem, the starting
//! tree, every step through the engine, and the canonical transcript.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;
use switchyard::{ErrorId, MemorySink, Plan, RollbackOptions};

use super::answers;
use super::crash::{self, CrashContext, CrashVariant, without_sidecars};
use super::engine::{
    Layout, apply_plan, engine, wants_same_filesystem_store, wants_second_filesystem,
};
use super::faults::Faults;
use super::outside::Outside;
use super::strays;
use super::tree;
use crate::error::chain;
use crate::fixture::{Filesystem, FixtureError};
use crate::fs_kind::FsKind;
use crate::report::{Failure, FailureKind};
use crate::scenario::{self, Scenario, Step};
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
            };
        }
    };
    let variants: Vec<Option<CrashVariant>> = match scenario.crash() {
        None => vec![None],
        Some(spec) => spec
            .points()
            .into_iter()
            .flat_map(|point| {
                spec.how
                    .iter()
                    .map(move |&how| Some(CrashVariant { point, how }))
            })
            .collect(),
    };
    let mut failure = None;
    for (n, variant) in variants.iter().enumerate() {
        if let Some(v) = variant {
            t.line(&json!({ "variant": v.name() }));
        }
        let dir = req.dir.join(format!("v{n}"));
        if let Err(f) = run_variant(&scenario, req.fs, &dir, *variant, &mut t) {
            failure = Some(f);
            break;
        }
    }
    TrialReport {
        transcript: t.into_string(),
        failure,
    }
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
    variant: Option<CrashVariant>,
    t: &mut Transcript,
) -> Result<(), Failure> {
    for sub in ["fs", "store"] {
        fs::create_dir_all(dir.join(sub)).map_err(|e| harness("trial directory", e))?;
    }
    let mut fs = Filesystem::create(kind, &dir.join("fs")).map_err(fixture_failure)?;
    let store_fs = if wants_second_filesystem(&scenario.policy) {
        Some(Filesystem::create(FsKind::Tmpfs, &dir.join("store")).map_err(fixture_failure)?)
    } else {
        None
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
        };
        steps.run_all(&mut fs, variant, t)
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
    result.and(cleared).and(closed.map(|_| ()))
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
}

impl Steps<'_> {
    fn run_all(
        &mut self,
        fs: &mut Filesystem,
        variant: Option<CrashVariant>,
        t: &mut Transcript,
    ) -> Result<(), Failure> {
        let outside = Outside::take(fs.mount_point())?;
        for (i, step) in self.scenario.steps.iter().enumerate() {
            t.line(&json!({"step": i + 1, "op": step.name()}));
            let crashes = matches!(step, Step::Apply(a) if a.crash.is_some())
                || matches!(step, Step::Rollback(r) if r.crash.is_some());
            if let (true, Some(variant)) = (crashes, variant) {
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
                crash::run(&ctx, variant, fs, t)?;
                return outside.check(
                    fs.mount_point(),
                    &format!("after crash trial {}", variant.name()),
                );
            }
            self.run_step(i, step, fs, t)?;
            outside.check(
                fs.mount_point(),
                &format!("step {} ({})", i + 1, step.name()),
            )?;
        }
        Ok(())
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
                let mut sink = MemorySink::default();
                let mode = match apply.mode {
                    scenario::ApplyMode::Commit => switchyard::ApplyMode::Commit,
                    scenario::ApplyMode::DryRun => switchyard::ApplyMode::DryRun,
                };
                let result = apply_plan(root, apply).and_then(|plan| {
                    let applied =
                        engine(&self.scenario.policy, self.layout).apply(&plan, mode, &mut sink);
                    self.last_plan = Some(plan);
                    applied
                });
                t.facts(&sink.facts);
                let report = result.as_ref().ok().cloned();
                self.outcome(t, result.map(|_| ()), apply.expect)
                    .map_err(expectation)?;
                if let (Some(report), switchyard::ApplyMode::Commit) = (report, mode) {
                    let after = self.tree()?;
                    let keys = answers::Keys::new(root);
                    let problems = answers::apply(&report, &keys, &self.baseline, &after);
                    if !problems.is_empty() {
                        return Err(expectation(problems.join("; ")));
                    }
                }
            }
            Step::Rollback(rollback) => {
                let plan = self.last_plan.as_ref().ok_or_else(|| {
                    expectation("no apply step before it made a plan to roll back".into())
                })?;
                let mut sink = MemorySink::default();
                let before = self.tree()?;
                let result = engine(&self.scenario.policy, self.layout).rollback(
                    plan,
                    RollbackOptions {
                        force: rollback.force,
                    },
                    &mut sink,
                );
                t.facts(&sink.facts);
                let report = result.as_ref().ok().copied();
                self.outcome(t, result.map(|_| ()), rollback.expect)
                    .map_err(expectation)?;
                if let Some(report) = report {
                    let after = self.tree()?;
                    let keys = answers::Keys::new(root);
                    let problems = answers::rollback(&report, plan, &keys, &before, &after);
                    if !problems.is_empty() {
                        return Err(expectation(problems.join("; ")));
                    }
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
