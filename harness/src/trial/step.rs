//! The step child: one engine operation of a scenario in a process of its own,
//! `fsmatrix __step REQUEST`, traced by the watcher ([`super::watch`]). Plain apply, rollback and
//! prune steps, crash steps and the recovery after a crash, recorded steps and the rollback from
//! every recorded crash state all run through it, so every engine operation of a trial is
//! watched the same way.
//!
//! The child reports on stdout, one JSON [`StepEvent`] a line: every crash point it reaches (with
//! the target of the action), `stopped` when it parks at the point it was asked to stop at (the
//! harness then kills it), and `finished` with its result and facts. A [`StepOp::RecoverEach`]
//! child finishes once per line the harness writes to its stdin.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Lines, Read, Seek, SeekFrom, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::Mutex;

use rustix::process::{Signal, set_parent_process_death_signal};

use serde::{Deserialize, Serialize};
use switchyard::crash::{CrashPoint, set_observer};
use switchyard::{
    ApplyMode, ApplyReport, ErrorId, Fact, MemorySink, Plan, RollbackOptions, RollbackReport,
};

use super::checks;
use super::engine::{Layout, apply_plan, engine};
use super::strays;
use super::watch::{self, Watched};
use crate::error::chain;
use crate::report::{Failure, FailureKind};
use crate::scenario::{self, Scenario, Step};

/// What a step child runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOp {
    /// The scenario's step as written.
    Step,
    /// A plain rollback of the plan the step works on: recovery after a crash.
    Recover,
    /// [`StepOp::Recover`] again and again: one rollback per line on stdin, each reported when
    /// it finishes, until stdin closes. A recorded crash trial rolls back from every crash state
    /// through one child, so a state costs no new process under the tracer.
    RecoverEach,
}

/// What the step child needs to run one step on its own.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepRequest {
    pub scenario_file: PathBuf,
    /// Index of the step in the scenario's steps.
    pub step: usize,
    pub op: StepOp,
    pub root: PathBuf,
    pub lock: PathBuf,
    pub store: Option<PathBuf>,
    /// Park at this occurrence of a crash point (until killed) instead of finishing.
    pub stop: Option<Occurrence>,
}

/// The `nth` time (from 1) the engine reaches `point` for `target` (none for a plan-wide point)
/// within one step.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Occurrence {
    pub point: CrashPoint,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub nth: usize,
}

impl Occurrence {
    /// `point`, `point@target`, with `#n` for a repeated occurrence.
    pub fn name(&self) -> String {
        let mut name = self.point.name().to_owned();
        if let Some(target) = &self.target {
            name.push('@');
            name.push_str(target);
        }
        if self.nth > 1 {
            name.push_str(&format!("#{}", self.nth));
        }
        name
    }
}

/// How a step's engine call failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepError {
    pub id: ErrorId,
    /// The error's whole chain, for failure messages (never compared).
    pub message: String,
}

/// One line of the step child's report.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepEvent {
    Reached(Occurrence),
    /// Parked at the stop point; `pid` is the engine's process, the one to kill.
    Stopped {
        pid: u32,
    },
    Finished {
        error: Option<StepError>,
        facts: Vec<Fact>,
        #[serde(default)]
        answer: Option<Answer>,
    },
}

/// What the engine answered a step that succeeded, for the harness to hold against the tree.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Answer {
    Apply(ApplyReport),
    Rollback(RollbackReport),
}

/// The plan a step works on: an apply's own plan, or for a rollback or prune the plan of the
/// last apply before it.
pub(crate) fn plan_for(scenario: &Scenario, step: usize, root: &Path) -> Result<Plan, String> {
    scenario.steps[..=step]
        .iter()
        .rev()
        .find_map(|s| match s {
            Step::Apply(apply) => Some(apply),
            _ => None,
        })
        .ok_or_else(|| "no apply step before it made a plan to work on".to_owned())
        .and_then(|apply| apply_plan(root, apply).map_err(|e| e.to_string()))
}

fn emit(event: &StepEvent) {
    let mut out = io::stdout().lock();
    // A closed pipe means the harness is gone; nothing is left to tell.
    let _ = serde_json::to_writer(&mut out, event);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// The body of `fsmatrix __step REQUEST`: run the step, report every crash point reached, and
/// park at the stop point if there is one.
///
/// What the step's health checks leave running (a process put in the background) is adopted
/// and killed when the step ends: the tracer follows every process the engine starts and ends
/// only with the last of them, so a leftover would hold the trial until its timeout. A step
/// killed at a crash point leaves them to the trial child, which kills them before it releases
/// its filesystems.
pub fn step_child(request: &Path) -> Result<(), String> {
    strays::adopt_orphans().map_err(|e| format!("adopting the step's orphans: {e}"))?;
    let result = run_step(request);
    strays::kill_strays();
    result
}

fn run_step(request: &Path) -> Result<(), String> {
    let text =
        std::fs::read_to_string(request).map_err(|e| format!("{}: {e}", request.display()))?;
    let req: StepRequest = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let scenario = scenario::load_file(&req.scenario_file).map_err(|e| e.to_string())?;
    let stop = req.stop.clone();
    let seen: Mutex<BTreeMap<(CrashPoint, Option<String>), usize>> = Mutex::default();
    set_observer(move |point, target| {
        let target = target.map(str::to_owned);
        let nth = {
            let mut seen = seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let n = seen.entry((point, target.clone())).or_default();
            *n += 1;
            *n
        };
        let reached = Occurrence { point, target, nth };
        let stops = stop.as_ref() == Some(&reached);
        emit(&StepEvent::Reached(reached));
        if stops {
            emit(&StepEvent::Stopped {
                pid: std::process::id(),
            });
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
    let step = scenario
        .steps
        .get(req.step)
        .ok_or_else(|| format!("the scenario has no step {}", req.step + 1))?;
    if req.op == StepOp::RecoverEach {
        for line in io::stdin().lock().lines() {
            line.map_err(|e| format!("reading the harness's request: {e}"))?;
            // The plan is made afresh each time: it holds nothing open on a filesystem the
            // harness unmounts between two requests.
            let plan = plan_for(&scenario, req.step, &req.root)?;
            let mut sink = MemorySink::default();
            let result = engine
                .rollback(&plan, RollbackOptions::default(), &mut sink)
                .map(|report| Some(Answer::Rollback(report)));
            emit(&finished(result, sink.facts));
        }
        return Ok(());
    }
    let mut sink = MemorySink::default();
    let result = if let (StepOp::Step, Step::Apply(apply)) = (req.op, step) {
        let mode = match apply.mode {
            scenario::ApplyMode::Commit => ApplyMode::Commit,
            scenario::ApplyMode::DryRun => ApplyMode::DryRun,
        };
        apply_plan(&req.root, apply)
            .and_then(|plan| engine.apply(&plan, mode, &mut sink))
            .map(|report| Some(Answer::Apply(report)))
    } else {
        let plan = plan_for(&scenario, req.step, &req.root)?;
        match (req.op, step) {
            (StepOp::Recover | StepOp::RecoverEach, _) => engine
                .rollback(&plan, RollbackOptions::default(), &mut sink)
                .map(|report| Some(Answer::Rollback(report))),
            (StepOp::Step, Step::Rollback(rollback)) => {
                let options = RollbackOptions {
                    force: rollback.force,
                };
                engine
                    .rollback(&plan, options, &mut sink)
                    .map(|report| Some(Answer::Rollback(report)))
            }
            (StepOp::Step, Step::Prune(prune)) => {
                let keep = usize::try_from(prune.keep.get()).unwrap_or(usize::MAX);
                engine.prune(&plan, keep, &mut sink).map(|_| None)
            }
            (StepOp::Step, other) => {
                return Err(format!(
                    "step {} ({}) does not run the engine",
                    req.step + 1,
                    other.name()
                ));
            }
        }
    };
    emit(&finished(result, sink.facts));
    Ok(())
}

fn finished(result: Result<Option<Answer>, switchyard::Error>, facts: Vec<Fact>) -> StepEvent {
    let (answer, error) = match result {
        Ok(answer) => (answer, None),
        Err(e) => (
            None,
            Some(StepError {
                id: e.id(),
                message: chain(&e),
            }),
        ),
    };
    StepEvent::Finished {
        error,
        facts,
        answer,
    }
}

/// A step child running under the watcher, as the trial child sees it.
#[derive(Debug)]
pub(crate) struct Running {
    child: Child,
    /// [`StepOp::RecoverEach`] children only: where the harness asks for one more rollback.
    requests: Option<ChildStdin>,
    events: Lines<BufReader<ChildStdout>>,
    trace: PathBuf,
    /// How much of the trace the watcher has held to its rule already.
    traced: u64,
    stderr: PathBuf,
    watched: Vec<Watched>,
    /// `step N (op)`, for messages.
    label: String,
    reached: Vec<Occurrence>,
}

/// Where a step child got to.
#[derive(Debug)]
pub(crate) enum Progress {
    /// Parked at its stop point: kill `pid`.
    Stopped { pid: u32 },
    Finished {
        error: Option<StepError>,
        facts: Vec<Fact>,
        answer: Option<Answer>,
    },
}

fn harness(label: &str, what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::new(FailureKind::Harness, format!("{label}: {what}: {e}"))
}

/// The targets of `plan` as the watcher sees them: their real paths (a parent may be a symlink,
/// as in a merged `/usr`). A target whose parent does not exist cannot be touched; it is left out.
pub(crate) fn watched(plan: &Plan) -> Vec<Watched> {
    plan.actions()
        .iter()
        .filter_map(|a| {
            let target = a.target();
            let parent = std::fs::canonicalize(target.root().join(target.parent_rel())).ok()?;
            Some(Watched {
                path: parent.join(target.file_name()),
                rel: target.display_rel(),
            })
        })
        .collect()
}

impl Running {
    /// Starts `req` in a step child under `strace`; its files are `FILES.request.json`,
    /// `FILES.stderr` and `FILES.trace`.
    pub(crate) fn spawn(
        req: &StepRequest,
        files: &Path,
        watched: Vec<Watched>,
        label: String,
    ) -> Result<Running, Failure> {
        let with = |ext: &str| {
            let mut name = files.as_os_str().to_owned();
            name.push(ext);
            PathBuf::from(name)
        };
        let (request, stderr, trace) = (with(".request.json"), with(".stderr"), with(".trace"));
        let json = serde_json::to_vec(req).map_err(|e| harness(&label, "request", e))?;
        std::fs::write(&request, json).map_err(|e| harness(&label, "request", e))?;
        let err = File::create(&stderr).map_err(|e| harness(&label, "stderr", e))?;
        let exe = std::env::current_exe().map_err(|e| harness(&label, "exe", e))?;
        let mut cmd = watch::traced(&exe, &trace);
        let stdin = if req.op == StepOp::RecoverEach {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        cmd.arg("__step")
            .arg(&request)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(err);
        // SAFETY: the closure makes one system call (prctl), which is async-signal-safe, and
        // touches no memory of the parent. The tracer must die with this process: the step
        // child it holds may be parked at a crash point forever.
        unsafe {
            cmd.pre_exec(|| {
                set_parent_process_death_signal(Some(Signal::KILL)).map_err(io::Error::from)
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Failure::new(
                    FailureKind::Prerequisite,
                    format!(
                        "{label}: `{}` is not installed; every engine step runs under it \
                         (apt-get install strace)",
                        watch::STRACE
                    ),
                )
            } else {
                harness(&label, "spawn", e)
            }
        })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| harness(&label, "spawn", "no stdout"))?;
        Ok(Running {
            requests: child.stdin.take(),
            child,
            events: BufReader::new(stdout).lines(),
            trace,
            traced: 0,
            stderr,
            watched,
            label,
            reached: Vec::new(),
        })
    }

    /// Every crash point reached so far, in order.
    pub(crate) fn reached(&self) -> &[Occurrence] {
        &self.reached
    }

    /// Reads the child's report until it stops or finishes. `None`: it ended without saying
    /// either (see [`Running::wait`]).
    pub(crate) fn progress(&mut self) -> Result<Option<Progress>, Failure> {
        for line in self.events.by_ref() {
            let line = line.map_err(|e| harness(&self.label, "reading the step child", e))?;
            let event: StepEvent = serde_json::from_str(&line)
                .map_err(|e| harness(&self.label, "a line of the step child", e))?;
            match event {
                StepEvent::Reached(occurrence) => self.reached.push(occurrence),
                StepEvent::Stopped { pid } => return Ok(Some(Progress::Stopped { pid })),
                StepEvent::Finished {
                    error,
                    facts,
                    answer,
                } => {
                    return Ok(Some(Progress::Finished {
                        error,
                        facts,
                        answer,
                    }));
                }
            }
        }
        Ok(None)
    }

    /// [`StepOp::RecoverEach`] children: rolls back once more, from whatever the tree is now,
    /// and holds the calls of that rollback alone to the watcher's rule. Returns how it failed,
    /// if it did.
    pub(crate) fn recover_again(&mut self) -> Result<Option<StepError>, Failure> {
        let asked = self
            .requests
            .as_mut()
            .ok_or_else(|| harness(&self.label, "request", "the child takes no requests"))
            .and_then(|stdin| {
                stdin
                    .write_all(b"\n")
                    .and_then(|()| stdin.flush())
                    .map_err(|e| harness(&self.label, "request", e))
            });
        if let Err(failure) = asked {
            // A child that is gone says why on its way out.
            self.requests = None;
            self.exited(false)?;
            return Err(failure);
        }
        match self.progress()? {
            Some(Progress::Finished { error, .. }) => {
                self.watch_new_calls()?;
                Ok(error)
            }
            Some(Progress::Stopped { .. }) | None => {
                self.requests = None;
                self.exited(false)?;
                Err(harness(
                    &self.label,
                    "the step child",
                    "ended without reporting how the rollback finished",
                ))
            }
        }
    }

    /// Waits for the child (which the caller has killed if `killed`) and holds the rest of its
    /// trace to the watcher's rule.
    pub(crate) fn wait(mut self, killed: bool) -> Result<(), Failure> {
        // A child that takes requests ends when they do.
        self.requests = None;
        self.exited(killed)?;
        self.watch_new_calls()
    }

    /// Waits for the child to end; unless the caller killed it, it must have ended well.
    fn exited(&mut self, killed: bool) -> Result<(), Failure> {
        let status = self
            .child
            .wait()
            .map_err(|e| harness(&self.label, "wait", e))?;
        if !killed && !status.success() {
            let words = std::fs::read_to_string(&self.stderr).unwrap_or_default();
            let how = match status.signal() {
                Some(signal) => format!("was killed by signal {signal}"),
                None => format!("exited with {status}"),
            };
            return Err(Failure::new(
                FailureKind::ChildCrashed,
                format!("{}: the step child {how}: {}", self.label, words.trim()),
            ));
        }
        Ok(())
    }

    /// Holds the calls traced since the last look to the watcher's rule. Everything the child
    /// did before its last report is in the file: strace writes and flushes a call's line when
    /// the call returns, before the calling thread runs on.
    fn watch_new_calls(&mut self) -> Result<(), Failure> {
        let reading = |e: io::Error| harness(&self.label, "reading the trace", e);
        let mut file = File::open(&self.trace).map_err(reading)?;
        file.seek(SeekFrom::Start(self.traced)).map_err(reading)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(reading)?;
        self.traced += text.len() as u64;
        let calls = watch::parse(&text).map_err(|e| harness(&self.label, "the trace", e))?;
        let found = watch::violations(&calls, &self.watched);
        if found.is_empty() {
            Ok(())
        } else {
            Err(Failure::new(
                FailureKind::CrashSafety,
                format!("{}: the watcher saw: {}", self.label, found.join("; ")),
            )
            .with_checks([checks::WATCHER]))
        }
    }
}

/// How a step that ran to its end went.
#[derive(Debug)]
pub(crate) struct Ended {
    pub(crate) error: Option<StepError>,
    pub(crate) facts: Vec<Fact>,
    /// The engine's report of a step that succeeded (apply and rollback).
    pub(crate) answer: Option<Answer>,
    /// Every crash point reached, in order.
    pub(crate) reached: Vec<Occurrence>,
}

/// Runs `req` to its end under the watcher.
pub(crate) fn run_to_end(
    req: &StepRequest,
    files: &Path,
    watched: Vec<Watched>,
    label: String,
) -> Result<Ended, Failure> {
    let mut running = Running::spawn(req, files, watched, label)?;
    let progress = running.progress()?;
    let reached = running.reached.clone();
    let label = running.label.clone();
    running.wait(false)?;
    match progress {
        Some(Progress::Finished {
            error,
            facts,
            answer,
        }) => Ok(Ended {
            error,
            facts,
            answer,
            reached,
        }),
        Some(Progress::Stopped { .. }) | None => Err(harness(
            &label,
            "the step child",
            "ended without reporting how the step finished",
        )),
    }
}
