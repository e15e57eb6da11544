//! What the runner tells reporters: one enum of events, and the result of each trial.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::matrix::{DeclaredScope, TrialId};

/// Everything a reporter hears, in order: `RunStarted`, then per trial `TrialStarted` and
/// `TrialFinished`, then `RunFinished`.
#[derive(Clone, Debug)]
pub enum Event<'a> {
    RunStarted {
        trials: usize,
        runner: &'static str,
        scopes: &'a [DeclaredScope],
    },
    TrialStarted {
        id: &'a TrialId,
    },
    TrialFinished {
        result: &'a TrialResult,
        /// How many trials have finished, this one included.
        done: usize,
        of: usize,
    },
    RunFinished {
        summary: &'a Summary,
    },
}

/// The result of one trial: one scenario on one filesystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialResult {
    pub id: TrialId,
    pub outcome: Outcome,
    #[serde(with = "millis")]
    pub duration: Duration,
    /// Recorded crash states the trial mounted and checked (none for trials without them).
    #[serde(default, skip_serializing_if = "CrashStates::is_none")]
    pub crash_states: CrashStates,
}

/// Recorded crash states checked, and the time spent serving, mounting, checking, rolling back
/// and unmounting them (not the recording or the fixtures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrashStates {
    pub count: u64,
    #[serde(with = "millis")]
    pub checking: Duration,
}

impl CrashStates {
    pub fn is_none(&self) -> bool {
        self.count == 0
    }
}

impl std::ops::AddAssign for CrashStates {
    fn add_assign(&mut self, other: CrashStates) {
        self.count += other.count;
        self.checking += other.checking;
    }
}

impl TrialResult {
    pub fn passed(&self) -> bool {
        self.outcome == Outcome::Passed
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Outcome {
    Passed,
    Failed(Failure),
}

/// Why a trial failed, with what a reader needs to act on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    /// The first lines of the unified diff against the golden file, for golden mismatches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
            diff: None,
        }
    }
}

/// Failure kinds. There is no "skipped": a trial that cannot run fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A step did not do what the scenario expects (an engine error, a check that differs).
    Expectation,
    /// A crash trial found the tree broken after the crash or after recovery.
    CrashSafety,
    /// The transcript differs from the golden file.
    GoldenMismatch,
    /// There is no golden file for the scenario.
    GoldenMissing,
    /// The machine lacks something the trial needs (a tool, a device, privilege).
    Prerequisite,
    /// The trial's child process died (a signal, a panic) without reporting.
    ChildCrashed,
    /// The trial ran past its time limit and was killed.
    TimedOut,
    /// The run was interrupted before the trial could finish.
    NotRun,
    /// The harness itself failed (I/O on its own files, a fixture that would not release).
    Harness,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Expectation => "expectation",
            FailureKind::CrashSafety => "crash-safety",
            FailureKind::GoldenMismatch => "golden-mismatch",
            FailureKind::GoldenMissing => "golden-missing",
            FailureKind::Prerequisite => "prerequisite",
            FailureKind::ChildCrashed => "child-crashed",
            FailureKind::TimedOut => "timed-out",
            FailureKind::NotRun => "not-run",
            FailureKind::Harness => "harness",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Totals of a run. `skipped` is counted, not assumed: a selected trial without a result. The
/// runner gives every trial one (a trial that cannot run fails), so it stays 0 unless the
/// runner loses a trial, and then the closing line says so. `out_of_scope` counts the
/// (scenario, filesystem) pairs of the run that a scenario's `filesystems:` leaves out: not
/// skipped, declared, and shown as their own figure.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub out_of_scope: usize,
    /// Recorded crash states checked by all trials together.
    #[serde(default)]
    pub crash_states: u64,
}

impl Summary {
    /// The totals of `results` for the `selected` trials of a run with declared `scopes`.
    pub fn of(selected: &[TrialId], results: &[TrialResult], scopes: &[DeclaredScope]) -> Summary {
        let passed = results.iter().filter(|r| r.passed()).count();
        Summary {
            passed,
            failed: results.len() - passed,
            skipped: selected
                .iter()
                .filter(|id| !results.iter().any(|r| r.id == **id))
                .count(),
            out_of_scope: scopes.iter().map(|s| s.left_out.len()).sum(),
            crash_states: results.iter().map(|r| r.crash_states.count).sum(),
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped; {} out of scope by declaration",
            self.passed, self.failed, self.skipped, self.out_of_scope
        )?;
        if self.crash_states > 0 {
            write!(f, "; {} crash states checked", self.crash_states)?;
        }
        Ok(())
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs_kind::FsKind;

    fn id(scenario: &str, fs: FsKind) -> TrialId {
        TrialId {
            scenario: scenario.to_owned(),
            fs,
        }
    }

    fn result(id: TrialId, outcome: Outcome) -> TrialResult {
        TrialResult {
            id,
            outcome,
            duration: Duration::ZERO,
            crash_states: CrashStates::default(),
        }
    }

    /// A selected trial without a result (one a run never got to) is a skip, counted as such
    /// and apart from the trials a scenario leaves out by declaration.
    /// Proves: REQ-CI2.1
    #[test]
    fn a_selected_trial_without_a_result_counts_as_skipped() {
        let selected = [
            id("a", FsKind::Ext4),
            id("a", FsKind::Xfs),
            id("b", FsKind::Tmpfs),
        ];
        let results = [
            result(selected[0].clone(), Outcome::Passed),
            result(
                selected[1].clone(),
                Outcome::Failed(Failure::new(FailureKind::Expectation, "differs")),
            ),
        ];
        let scopes = [DeclaredScope {
            scenario: "b".to_owned(),
            filesystems: vec![FsKind::Tmpfs],
            left_out: vec![FsKind::Ext4, FsKind::Xfs],
            why: "tmpfs alone".to_owned(),
        }];
        let summary = Summary::of(&selected, &results, &scopes);
        assert_eq!(
            summary.to_string(),
            "1 passed, 1 failed, 1 skipped; 2 out of scope by declaration"
        );
    }
}
