//! Recorded crash trials: the crash step runs to its end on a recorded fixture, and every crash
//! state its block log allows (see [`crate::blocklog`]) is mounted in turn (recovery runs),
//! checked, rolled back and checked again. The step and the rollbacks run in step children under
//! the watcher, like every engine step; the recorder serves the disks from this process.
//!
//! The transcript holds one verdict per invariant over all states, never counts or state names,
//! which differ between filesystems; those go to the failure message and the trial's figures.

use std::time::Instant;

use serde_json::json;

use super::crash::{CrashContext, survivors_problem, tree};
use super::crash_state::{self, Expected};
use super::step::{Running, StepOp, plan_for, run_to_end, watched};
use crate::blocklog::{self, Bounds, CrashState};
use crate::error::chain;
use crate::fixture::{Filesystem, Recording};
use crate::fs_kind::FsKind;
use crate::report::{CrashStates, Failure, FailureKind};
use crate::transcript::Transcript;

/// Overrides the seed that samples the crash states.
pub const SEED_VAR: &str = "FSMATRIX_CRASH_SEED";
/// `all`: every flush and write prefix and more subsets per epoch (the long run).
pub const STATES_VAR: &str = "FSMATRIX_CRASH_STATES";
/// Checks only the state of this name (e.g. `flush-3`), to reproduce one failure.
pub const STATE_VAR: &str = "FSMATRIX_CRASH_STATE";
/// The seed when none is given.
pub const DEFAULT_SEED: u64 = 1;

/// The default run's bounds: enough to cover every flush of a small plan and a sample of the
/// cuts between writes, while a trial stays within a few seconds per filesystem.
const DEFAULT_BOUNDS: Bounds = Bounds {
    flush_prefixes: 24,
    write_prefixes: 12,
    subsets_per_epoch: 2,
};

/// The invariants, in transcript order.
const INVARIANTS: [&str; 6] = [
    "targets_exact",
    "prior_recoverable",
    "others_survived",
    "durable",
    "rollback_restores_prior_tree",
    "no_debris",
];

/// Which states to check and how they are sampled, from the environment of the run.
#[derive(Clone, Debug)]
struct Selection {
    seed: u64,
    bounds: Bounds,
    only: Option<String>,
}

impl Selection {
    fn from_env() -> Result<Selection, String> {
        let seed = match std::env::var(SEED_VAR) {
            Ok(text) => text
                .parse()
                .map_err(|_| format!("{SEED_VAR}={text} is not an unsigned number"))?,
            Err(_) => DEFAULT_SEED,
        };
        let bounds = match std::env::var(STATES_VAR).as_deref() {
            Ok("all") => Bounds::UNBOUNDED,
            Ok("default") | Err(_) => DEFAULT_BOUNDS,
            Ok(other) => return Err(format!("{STATES_VAR}={other}: expected `all` or `default`")),
        };
        Ok(Selection {
            seed,
            bounds,
            only: std::env::var(STATE_VAR).ok(),
        })
    }

    /// The command that checks `state` of `scenario` again on `fs`, on its own. It names the
    /// bounds as well as the seed: which states a log gives, and so which writes a `prefix-N` or
    /// `epoch-E.K` stands for, depends on both.
    fn reproduce(&self, state: &str, scenario: &str, fs: FsKind) -> String {
        let bounds = if self.bounds == Bounds::UNBOUNDED {
            "all"
        } else {
            "default"
        };
        format!(
            "{SEED_VAR}={} {STATES_VAR}={bounds} {STATE_VAR}={state} fsmatrix run --fs {fs} \
             {scenario}",
            self.seed
        )
    }
}

/// Runs the crash step recorded, then checks every crash state of its log. `disks` are the
/// recorded filesystems: the one under test, and the backup store's if it has its own. Returns how
/// many states it checked, and how long that took.
pub(crate) fn run(
    ctx: &CrashContext<'_>,
    disks: &mut [&mut Filesystem],
    t: &mut Transcript,
) -> Result<CrashStates, Failure> {
    let harness = |what: &str, e: &dyn std::fmt::Display| {
        Failure::new(
            FailureKind::Harness,
            format!("recorded crash trial: {what}: {e}"),
        )
    };
    let selection = Selection::from_env().map_err(|e| harness("selection", &e))?;
    let root = &ctx.layout.root;
    let plan = plan_for(ctx.scenario, ctx.step, root).map_err(|e| harness("plan", &e))?;
    let before = tree(ctx.layout).map_err(|e| harness("snapshot", &e))?;

    // Everything before the step is on the images; the log starts from there.
    let recording = Recording::default();
    for (n, fs) in disks.iter().enumerate() {
        fs.sync().map_err(|e| harness("sync", &chain(&e)))?;
        fs.recorder()
            .map_err(|e| harness("recorder", &e))?
            .start(&recording, n);
    }
    // The step runs in a step child under the watcher, as every engine step does; the disks'
    // FUSE server stays in this process, so the recorder sees the child's writes in order.
    let ended = run_to_end(
        &ctx.request(StepOp::Step, None),
        &ctx.dir.join("recorded-step"),
        watched(&plan),
        format!(
            "step {} ({}, recorded)",
            ctx.step + 1,
            ctx.scenario.steps[ctx.step].name()
        ),
    );
    recording.mark("returned");
    for fs in disks.iter() {
        fs.recorder()
            .and_then(|r| r.stop())
            .map_err(|e| harness("recording", &chain(&e)))?;
    }
    let ended = ended?;
    let log = recording.log();
    t.facts(&ended.facts);
    t.line(&json!({"result": ended.error.as_ref().map_or("ok", |e| e.id.as_str())}));
    let committed = tree(ctx.layout).map_err(|e| harness("snapshot", &e))?;
    // The targets' real paths, read while the filesystem is mounted: the same at every state.
    let targets_watched = watched(&plan);
    t.snapshot(&committed);
    for fs in disks.iter_mut() {
        fs.unmount().map_err(|e| harness("unmount", &chain(&e)))?;
    }

    let targets: Vec<String> = plan
        .actions()
        .iter()
        .map(|a| a.target().display_rel())
        .collect();
    let expected = Expected {
        targets: &targets,
        prior: ctx.baseline,
        before: &before,
        committed: &committed,
    };
    let states = blocklog::states(&log, selection.seed, selection.bounds);
    let chosen: Vec<&CrashState> = states
        .states
        .iter()
        .filter(|s| {
            selection
                .only
                .as_ref()
                .is_none_or(|o| *o == s.cut.to_string())
        })
        .collect();
    if chosen.is_empty() {
        return Err(harness(
            "selection",
            &format!("{STATE_VAR} names no state of this log"),
        ));
    }

    let started = Instant::now();
    // One step child, under the watcher, rolls back from every state in turn.
    let mut rollback = Running::spawn(
        &ctx.request(StepOp::RecoverEach, None),
        &ctx.dir.join("recover"),
        targets_watched,
        "rollback from the crash state".to_owned(),
    )?;
    let mut failed: Vec<[Option<String>; INVARIANTS.len()]> = Vec::new();
    let mut names = Vec::new();
    for state in &chosen {
        for (n, fs) in disks.iter().enumerate() {
            fs.recorder()
                .and_then(|r| r.serve_state(log.replay(state, n)))
                .map_err(|e| harness("serve", &chain(&e)))?;
        }
        let durable = ended.error.is_none() && state.writes == states.durable.writes;
        let problems = check_state(ctx, &mut rollback, &expected, disks, durable).map_err(|f| {
            let message = format!(
                "recorded crash trial: crash state {}: {}",
                state.cut, f.message
            );
            Failure::new(f.kind, message)
        })?;
        if problems.iter().any(Option::is_some) {
            failed.push(problems);
            names.push(state.cut.to_string());
        }
    }
    rollback.wait(false)?;

    let checking = started.elapsed();
    for (i, name) in INVARIANTS.iter().enumerate() {
        t.line(&json!({"invariant": name, "ok": failed.iter().all(|p| p[i].is_none())}));
    }
    if failed.is_empty() {
        return Ok(CrashStates {
            count: chosen.len() as u64,
            checking,
            flush_prefixes_cut: states.flush_prefixes_cut as u64,
            write_prefixes_cut: states.write_prefixes_cut as u64,
        });
    }
    // Each failing invariant once, with how many states it failed on and its first problem.
    let by_invariant: Vec<String> = INVARIANTS
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let hits: Vec<(&String, &String)> = failed
                .iter()
                .zip(&names)
                .filter_map(|(p, state)| p[i].as_ref().map(|p| (state, p)))
                .collect();
            let (state, problem) = hits.first()?;
            Some(format!(
                "{name} on {} states, first {state}: {problem}",
                hits.len()
            ))
        })
        .collect();
    Err(Failure::new(
        FailureKind::CrashSafety,
        format!(
            "recorded crash trial: {} of {} crash states fail (log: {} writes, {} flushes; \
             seed {}; cut by the bounds: {} flush prefixes, {} write prefixes): {}; {} \
             (reproduce one with: {})",
            failed.len(),
            chosen.len(),
            log.writes(),
            log.flushes(),
            selection.seed,
            states.flush_prefixes_cut,
            states.write_prefixes_cut,
            names.join(" "),
            by_invariant.join("; "),
            selection.reproduce(&names[0], &ctx.scenario.name, disks[0].kind()),
        ),
    )
    .with_checks(
        INVARIANTS
            .iter()
            .enumerate()
            .filter(|(i, _)| failed.iter().any(|p| p[*i].is_some()))
            .map(|(_, name)| *name),
    ))
}

/// Mounts the state the disk shows, checks it, rolls back from it (through `rollback`, a
/// [`StepOp::RecoverEach`] child under the watcher), checks again, unmounts. Returns one problem
/// (or none) per invariant; an error when the watcher saw the rollback break its rule, or the
/// harness itself fails.
fn check_state(
    ctx: &CrashContext<'_>,
    rollback: &mut Running,
    exp: &Expected<'_>,
    disks: &mut [&mut Filesystem],
    durable: bool,
) -> Result<[Option<String>; INVARIANTS.len()], Failure> {
    let harness = |e: String| Failure::new(FailureKind::Harness, e);
    let mut problems: [Option<String>; INVARIANTS.len()] = Default::default();
    for n in 0..disks.len() {
        if let Err(e) = disks[n].mount() {
            problems[0] = Some(format!(
                "the state of the {} filesystem does not mount: {}",
                disks[n].kind(),
                chain(&e)
            ));
            for fs in disks.iter_mut() {
                fs.unmount().map_err(|e| harness(chain(&e)))?;
            }
            return Ok(problems);
        }
    }
    let state = tree(ctx.layout).map_err(|e| harness(e.to_string()))?;
    problems[0] = crash_state::targets_exact(exp, &state);
    problems[1] = crash_state::prior_recoverable(exp, &state);
    problems[2] = survivors_problem(exp.targets, exp.before, &state);
    problems[3] = durable.then(|| crash_state::durable(exp, &state)).flatten();

    let recovered = match rollback.recover_again()? {
        Some(e) => Err(format!("rollback from the state failed: {}", e.message)),
        None => Ok(tree(ctx.layout).map_err(|e| harness(e.to_string()))?),
    };
    match &recovered {
        Ok(now) => {
            problems[4] = match crash_state::restored(ctx.baseline, now) {
                Some(problem) => Some(problem),
                None => ctx
                    .not_prior_inodes(exp.targets)
                    .map_err(|e| harness(format!("reading inodes: {e}")))?,
            };
            problems[5] = crash_state::debris(exp.targets, now);
        }
        Err(e) => problems[4] = Some(e.clone()),
    }
    for fs in disks.iter_mut() {
        fs.unmount().map_err(|e| harness(chain(&e)))?;
    }
    Ok(problems)
}
#[cfg(test)]
mod tests {
    use super::*;

    /// The hint is a whole command: the states a name stands for depend on the seed and the
    /// bounds, and a run without the scenario and filesystem would run every trial.
    #[test]
    fn the_reproduce_hint_is_a_complete_command() {
        let selection = Selection {
            seed: 7,
            bounds: Bounds::UNBOUNDED,
            only: None,
        };
        assert_eq!(
            selection.reproduce("epoch-2.1", "crash-recorded-apply", FsKind::Btrfs),
            "FSMATRIX_CRASH_SEED=7 FSMATRIX_CRASH_STATES=all FSMATRIX_CRASH_STATE=epoch-2.1 \
             fsmatrix run --fs btrfs crash-recorded-apply"
        );
        let selection = Selection {
            seed: 1,
            bounds: DEFAULT_BOUNDS,
            only: None,
        };
        assert_eq!(
            selection.reproduce("flush-6", "crash-recorded-rollback", FsKind::Xfs),
            "FSMATRIX_CRASH_SEED=1 FSMATRIX_CRASH_STATES=default FSMATRIX_CRASH_STATE=flush-6 \
             fsmatrix run --fs xfs crash-recorded-rollback"
        );
    }
}
