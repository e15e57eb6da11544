//! Runs trials: each in a child process (`fsmatrix __trial`) of its own process group, `jobs`
//! at a time, each with a time limit. The child owns its fixtures; the runner kills it on a
//! timeout or a cancel, kills what it left running (the runner adopts its orphans), and sweeps
//! what it left mounted. Results go to the caller as events.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::chain;
use crate::fixture;
use crate::golden::{self, Verdict};
use crate::matrix::{DeclaredScope, TrialId};
use crate::report::{CrashStates, Event, Failure, FailureKind, Outcome, Summary, TrialResult};
use crate::signal::Cancel;
use crate::trial::{TrialReport, TrialRequest};
use crate::trial_children::TrialChildren;
use crate::workdir::{self, RunDir, TRIAL_TOKEN_ENV, TrialGroup};

/// How a run is carried out.
#[derive(Debug)]
pub struct RunConfig<'a> {
    /// The `fsmatrix` binary that runs each trial (`__trial`).
    pub exe: PathBuf,
    /// Scenario files by name.
    pub scenario_files: BTreeMap<String, PathBuf>,
    pub golden_dir: PathBuf,
    pub run_dir: &'a RunDir,
    pub jobs: usize,
    pub trial_timeout: Duration,
    /// Compare with golden files (a run), or only collect transcripts (a golden update).
    pub verify_golden: bool,
}

/// A finished trial, with its transcript when the child produced one.
#[derive(Clone, Debug)]
pub struct Executed {
    pub result: TrialResult,
    pub transcript: Option<String>,
}

enum Message {
    Started(TrialId),
    Finished(Box<Executed>),
}

/// Runs `trials` and reports each through `on_event`. Every trial yields a result: one that
/// could not run (cancelled) fails as `not-run`. Fails only when this process cannot become the
/// reaper of its trials' orphans, before any trial starts.
pub fn run(
    trials: &[TrialId],
    scopes: &[DeclaredScope],
    config: &RunConfig<'_>,
    cancel: &Cancel,
    runner_name: &'static str,
    mut on_event: impl FnMut(&Event<'_>),
) -> io::Result<Vec<Executed>> {
    let children = TrialChildren::adopting_orphans()?;
    on_event(&Event::RunStarted {
        trials: trials.len(),
        runner: runner_name,
        scopes,
    });
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    let mut executed: Vec<Executed> = Vec::with_capacity(trials.len());
    thread::scope(|scope| {
        for _ in 0..config.jobs.max(1) {
            let tx = tx.clone();
            let (next, children) = (&next, &children);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(id) = trials.get(i) else { break };
                    let done = if cancel.is_cancelled() {
                        not_run(id)
                    } else {
                        let _ = tx.send(Message::Started(id.clone()));
                        execute(id, config, cancel, children)
                    };
                    let _ = tx.send(Message::Finished(Box::new(done)));
                }
            });
        }
        drop(tx);
        for message in rx {
            match message {
                Message::Started(id) => on_event(&Event::TrialStarted { id: &id }),
                Message::Finished(done) => {
                    executed.push(*done);
                    on_event(&Event::TrialFinished {
                        result: &executed[executed.len() - 1].result,
                        done: executed.len(),
                        of: trials.len(),
                    });
                }
            }
        }
    });
    executed.sort_by(|a, b| a.result.id.cmp(&b.result.id));
    let results: Vec<TrialResult> = executed.iter().map(|e| e.result.clone()).collect();
    on_event(&Event::RunFinished {
        summary: &Summary::of(trials, &results, scopes),
    });
    Ok(executed)
}

fn not_run(id: &TrialId) -> Executed {
    Executed {
        result: TrialResult {
            id: id.clone(),
            outcome: Outcome::Failed(Failure::new(
                FailureKind::NotRun,
                "the run was interrupted before this trial started",
            )),
            duration: Duration::ZERO,
            crash_states: CrashStates::default(),
        },
        transcript: None,
    }
}

/// Runs one trial to its result: child, what it left running, sweep, golden comparison.
/// `children` are the trial children of this process, which must start no other process
/// meanwhile (see [`crate::trial_children`]).
pub fn execute(
    id: &TrialId,
    config: &RunConfig<'_>,
    cancel: &Cancel,
    children: &TrialChildren,
) -> Executed {
    let started = Instant::now();
    let dir = config.run_dir.trial_dir(id);
    let room = workdir::FreeSpaceWatch::start(config.run_dir.work_dir());
    let ran = run_child(id, &dir, config, cancel, children);
    // A child that was killed, or died, left its orphans to this process: they would keep the
    // trial's mounts busy.
    children.kill_orphans();
    let (transcript, failure, crash_states) = match ran {
        Ok(report) => (Some(report.transcript), report.failure, report.crash_states),
        Err(failure) => (None, Some(failure), CrashStates::default()),
    };
    let lowest_free = room.lowest();
    let mut failure =
        failure.map(|f| workdir::blame_a_full_host(config.run_dir.work_dir(), lowest_free, f));
    // Whatever the child did, nothing of it may stay mounted or attached. A child that ended
    // normally must have released everything itself; a killed one is swept.
    let leaks = fixture::leaks_under(&dir);
    if failure.is_none()
        && let Ok(leaks) = &leaks
        && !leaks.is_empty()
    {
        failure = Some(Failure::new(
            FailureKind::Harness,
            format!("the trial left resources behind: {leaks}"),
        ));
    }
    if let Err(e) = fixture::sweep(&dir) {
        add_failure(
            &mut failure,
            Failure::new(
                FailureKind::Harness,
                format!("cannot release the trial's fixtures: {}", chain(&e)),
            ),
        );
    }

    if let (Some(text), None, true) = (&transcript, &failure, config.verify_golden) {
        failure = compare_golden(id, text, config);
    }
    if failure.is_some()
        && let Some(text) = &transcript
    {
        keep_bad(config.run_dir.bad_transcript(id), text);
    }
    Executed {
        result: TrialResult {
            id: id.clone(),
            outcome: failure.map_or(Outcome::Passed, Outcome::Failed),
            duration: started.elapsed(),
            crash_states,
        },
        transcript,
    }
}

/// Adds `more` to what went wrong with a trial. An earlier failure keeps its kind, and `more` is
/// appended to its message: fixtures that would not release after a timeout say that something
/// the killed trial started may still hold them.
fn add_failure(failure: &mut Option<Failure>, more: Failure) {
    match failure {
        Some(first) => {
            first.message.push_str("; and ");
            first.message.push_str(&more.message);
        }
        None => *failure = Some(more),
    }
}

fn compare_golden(id: &TrialId, transcript: &str, config: &RunConfig<'_>) -> Option<Failure> {
    let golden_file = golden::path(&config.golden_dir, &id.scenario);
    let golden = match golden::read(&config.golden_dir, &id.scenario) {
        Ok(g) => g,
        Err(e) => {
            return Some(Failure::new(
                FailureKind::Harness,
                format!("cannot read {}: {e}", golden_file.display()),
            ));
        }
    };
    let bad = config.run_dir.bad_transcript(id);
    match golden::compare(
        golden.as_deref(),
        transcript,
        &golden_file.display().to_string(),
        &id.to_string(),
    ) {
        Verdict::Match => None,
        Verdict::Missing => Some(Failure::new(
            FailureKind::GoldenMissing,
            format!(
                "no golden transcript {} for {}: review the transcript kept in {}, then create it with `fsmatrix golden update {}`",
                golden_file.display(),
                id.scenario,
                bad.display(),
                id.scenario
            ),
        )),
        Verdict::Mismatch { diff } => Some(Failure {
            kind: FailureKind::GoldenMismatch,
            message: format!(
                "the transcript of {} on {} differs from {}; the whole transcript is kept in {}",
                id.scenario,
                id.fs,
                golden_file.display(),
                bad.display()
            ),
            checks: Vec::new(),
            diff: Some(golden::head(&diff)),
        }),
    }
}

fn keep_bad(path: PathBuf, transcript: &str) {
    if let Some(parent) = path.parent() {
        let _ = fs::create_dir_all(parent);
    }
    if let Err(e) = fs::write(&path, transcript) {
        eprintln!("fsmatrix: cannot keep {}: {e}", path.display());
    }
}

/// Starts the trial child and waits for it, killing its process group on timeout or cancel.
fn run_child(
    id: &TrialId,
    dir: &Path,
    config: &RunConfig<'_>,
    cancel: &Cancel,
    children: &TrialChildren,
) -> Result<TrialReport, Failure> {
    let harness = |what: &str, e: &dyn std::fmt::Display| {
        Failure::new(FailureKind::Harness, format!("{what}: {e}"))
    };
    let scenario_file = config
        .scenario_files
        .get(&id.scenario)
        .ok_or_else(|| harness("unknown scenario", &id.scenario))?;
    if dir.exists() {
        fixture::sweep(dir).map_err(|e| harness("clearing the trial directory", &chain(&e)))?;
    }
    fs::create_dir_all(dir).map_err(|e| harness("creating the trial directory", &e))?;
    let request = TrialRequest {
        scenario_file: scenario_file.clone(),
        fs: id.fs,
        dir: dir.join("work"),
    };
    let request_file = dir.join("request.json");
    let report_file = dir.join("report.json");
    fs::write(
        &request_file,
        serde_json::to_vec(&request).unwrap_or_default(),
    )
    .map_err(|e| harness("writing the trial request", &e))?;
    let log = |name: &str| fs::File::create(dir.join(name)).map(Stdio::from);
    let token = config.run_dir.trial_token(id);
    let mut live = children
        .spawn(
            Command::new(&config.exe)
                .arg("__trial")
                .arg(&request_file)
                .arg(&report_file)
                .stdin(Stdio::null())
                .stdout(log("child.stdout").map_err(|e| harness("child log", &e))?)
                .stderr(log("child.stderr").map_err(|e| harness("child log", &e))?)
                .env(TRIAL_TOKEN_ENV, &token)
                .process_group(0),
        )
        .map_err(|e| harness(&format!("starting {}", config.exe.display()), &e))?;
    let child = &mut live.child;
    // If this process is killed outright, `fsmatrix clean` kills what is left of the group.
    if let Err(e) = TrialGroup::of_leader(child.id(), &token).and_then(|g| g.write(dir)) {
        kill_group(child, dir, &token);
        return Err(harness("recording the trial's process group", &e));
    }

    let started = Instant::now();
    let exit = ExitWatch::of(child);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                kill_group(child, dir, &token);
                return Err(harness("waiting for the trial child", &e));
            }
        }
        if started.elapsed() > config.trial_timeout {
            kill_group(child, dir, &token);
            return Err(Failure::new(
                FailureKind::TimedOut,
                format!(
                    "{id} ran longer than {} s and was killed (raise --trial-timeout if the machine is slow)",
                    config.trial_timeout.as_secs()
                ),
            ));
        }
        if cancel.is_cancelled() {
            kill_group(child, dir, &token);
            return Err(Failure::new(
                FailureKind::NotRun,
                "interrupted; the trial was stopped",
            ));
        }
        exit.wait(CHECK_EVERY);
    };
    if !status.success() {
        return Err(crashed(status, &dir.join("child.stderr")));
    }
    let text =
        fs::read_to_string(&report_file).map_err(|e| harness("reading the trial report", &e))?;
    serde_json::from_str(&text).map_err(|e| harness("parsing the trial report", &e))
}

/// How often a running trial's clock and the cancel flag are looked at.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Waits for a child's exit on its pidfd, which turns readable when the child ends: the runner
/// learns of a finished trial at once rather than at its next look.
struct ExitWatch(Option<rustix::fd::OwnedFd>);

impl ExitWatch {
    fn of(child: &Child) -> ExitWatch {
        let pid = rustix::process::Pid::from_child(child);
        ExitWatch(rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok())
    }

    /// Returns when the child has ended, or after `most`.
    fn wait(&self, most: Duration) {
        let Some(pidfd) = &self.0 else {
            // Without a pidfd (a kernel before 5.3), look again shortly.
            thread::sleep(Duration::from_millis(20));
            return;
        };
        let timeout = rustix::event::Timespec {
            tv_sec: most.as_secs().try_into().unwrap_or(0),
            tv_nsec: most.subsec_nanos().into(),
        };
        let mut fds = [rustix::event::PollFd::new(
            pidfd,
            rustix::event::PollFlags::IN,
        )];
        let _ = rustix::event::poll(&mut fds, Some(&timeout));
    }
}

/// Kills the trial's process group and every process that carries its token (its health
/// checks run in groups of their own), then aborts the FUSE connections of its recorded disks,
/// which the killed process may otherwise wait on forever (see [`fixture::abort_fuse`]), then
/// reaps it.
fn kill_group(child: &mut Child, dir: &Path, token: &str) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    workdir::kill_token_carriers(token);
    if let Err(e) = fixture::abort_fuse(dir) {
        eprintln!(
            "fsmatrix: cannot abort the recorded disks under {}: {}",
            dir.display(),
            chain(&e)
        );
    }
    let _ = child.wait();
}

fn crashed(status: ExitStatus, stderr: &Path) -> Failure {
    let how = match status.signal() {
        Some(signal) => format!("was killed by signal {signal}"),
        None => format!("exited with {status}"),
    };
    let tail: Vec<String> = fs::read_to_string(stderr)
        .unwrap_or_default()
        .lines()
        .rev()
        .take(5)
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Failure::new(
        FailureKind::ChildCrashed,
        format!(
            "the trial child {how} before reporting; its last words: {}",
            if tail.is_empty() {
                "(none)".to_owned()
            } else {
                tail.join(" | ")
            }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_that_would_not_release_are_added_to_an_earlier_failure() {
        let released = "cannot release the trial's fixtures: /dev/loop3 is still attached";
        let mut failure = Some(Failure::new(FailureKind::TimedOut, "ran longer than 5 s"));
        add_failure(&mut failure, Failure::new(FailureKind::Harness, released));
        assert_eq!(
            failure,
            Some(Failure::new(
                FailureKind::TimedOut,
                format!("ran longer than 5 s; and {released}")
            ))
        );
        let mut none = None;
        add_failure(&mut none, Failure::new(FailureKind::Harness, released));
        assert_eq!(none, Some(Failure::new(FailureKind::Harness, released)));
    }
}
