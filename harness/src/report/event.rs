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

/// Recorded crash states checked, the time spent serving, mounting, checking, rolling back and
/// unmounting them (not the recording or the fixtures), and what the bounds left out: a passing
/// trial must say so as much as a failing one, or a reader takes a sample for the whole log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrashStates {
    pub count: u64,
    #[serde(with = "millis")]
    pub checking: Duration,
    /// Flush prefixes of the logs that the bounds left unchecked.
    #[serde(default)]
    pub flush_prefixes_cut: u64,
    /// Write prefixes (cuts between two writes, not at a flush) the bounds left unchecked.
    /// Subsets of an epoch's writes are not counted: they are always a seeded sample.
    #[serde(default)]
    pub write_prefixes_cut: u64,
}

impl CrashStates {
    pub fn is_none(&self) -> bool {
        self.count == 0
    }

    /// Prefixes the bounds left unchecked, of both sorts.
    pub fn cut(&self) -> u64 {
        self.flush_prefixes_cut + self.write_prefixes_cut
    }
}

impl std::ops::AddAssign for CrashStates {
    fn add_assign(&mut self, other: CrashStates) {
        self.count += other.count;
        self.checking += other.checking;
        self.flush_prefixes_cut += other.flush_prefixes_cut;
        self.write_prefixes_cut += other.write_prefixes_cut;
    }
}

/// `26 crash states, 0 cut by the bounds`, or with what was cut:
/// `24 crash states, 7 cut by the bounds (2 flush prefixes, 5 write prefixes)`.
impl fmt::Display for CrashStates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} crash states, {} cut by the bounds",
            self.count,
            self.cut()
        )?;
        if self.cut() > 0 {
            write!(
                f,
                " ({} flush prefixes, {} write prefixes)",
                self.flush_prefixes_cut, self.write_prefixes_cut
            )?;
        }
        Ok(())
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
    /// The checks that failed, by the names the transcript and the docs give them (`durable`,
    /// `crash_window`, `watcher`, `result`, ...), so a report can say what caught the trouble
    /// without reading the message. Empty where the kind says it all (a golden difference, a
    /// crashed or timed-out child, the harness itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    /// The first lines of the unified diff against the golden file, for golden mismatches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
            checks: Vec::new(),
            diff: None,
        }
    }

    /// The same failure, naming the checks that failed.
    pub fn with_checks<S: Into<String>>(mut self, checks: impl IntoIterator<Item = S>) -> Failure {
        self.checks = checks.into_iter().map(Into::into).collect();
        self
    }

    /// What caught the trouble: the checks that failed, or else the kind of failure.
    pub fn caught_by(&self) -> String {
        if self.checks.is_empty() {
            self.kind.as_str().to_owned()
        } else {
            self.checks.join(", ")
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
    /// Flush and write prefixes all trials' bounds left unchecked together.
    #[serde(default)]
    pub crash_states_cut: u64,
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
            crash_states_cut: results.iter().map(|r| r.crash_states.cut()).sum(),
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
            write!(
                f,
                "; {} crash states checked, {} cut by the bounds",
                self.crash_states, self.crash_states_cut
            )?;
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

    fn recorded(count: u64) -> TrialResult {
        TrialResult {
            id: TrialId {
                scenario: "crash-recorded-apply".into(),
                fs: FsKind::Ext4,
            },
            outcome: Outcome::Passed,
            duration: Duration::from_millis(200),
            crash_states: CrashStates {
                count,
                ..CrashStates::default()
            },
        }
    }

    fn cut(count: u64, flush_prefixes_cut: u64, write_prefixes_cut: u64) -> CrashStates {
        CrashStates {
            count,
            checking: Duration::ZERO,
            flush_prefixes_cut,
            write_prefixes_cut,
        }
    }

    /// A run that checked crash states says what the bounds left out, even when nothing was.
    #[test]
    fn the_closing_line_says_what_the_bounds_cut() {
        let results = [recorded(14)];
        let ids: Vec<TrialId> = results.iter().map(|r| r.id.clone()).collect();
        let line = Summary::of(&ids, &results, &[]).to_string();
        assert!(
            line.ends_with("; 14 crash states checked, 0 cut by the bounds"),
            "{line}"
        );
    }

    #[test]
    fn the_json_of_a_trial_names_the_cut_prefixes() {
        let json = serde_json::to_value(recorded(14)).unwrap();
        assert_eq!(json["crash_states"]["flush_prefixes_cut"], 0, "{json}");
        assert_eq!(json["crash_states"]["write_prefixes_cut"], 0, "{json}");

        let mut trial = recorded(24);
        trial.crash_states = cut(24, 2, 5);
        let json = serde_json::to_string(&trial).unwrap();
        assert_eq!(serde_json::from_str::<TrialResult>(&json).unwrap(), trial);
    }

    /// A report says what caught a failure: its failed checks, or else its kind.
    #[test]
    fn a_failure_names_its_checks_or_else_its_kind() {
        let checked =
            Failure::new(FailureKind::CrashSafety, "m").with_checks(["durable", "no_debris"]);
        assert_eq!(checked.caught_by(), "durable, no_debris");
        let json = serde_json::to_value(&checked).unwrap();
        assert_eq!(json["checks"], serde_json::json!(["durable", "no_debris"]));
        assert_eq!(serde_json::from_value::<Failure>(json).unwrap(), checked);

        let crashed = Failure::new(FailureKind::ChildCrashed, "m");
        assert_eq!(crashed.caught_by(), "child-crashed");
        let json = serde_json::to_value(&crashed).unwrap();
        assert!(json.get("checks").is_none(), "{json}");
    }

    /// A trial's variants add up, and so do a run's trials.
    #[test]
    fn cuts_add_up_over_variants_and_trials() {
        let mut states = cut(10, 1, 2);
        states += cut(14, 1, 3);
        assert_eq!(states, cut(24, 2, 5));
        assert_eq!(
            states.to_string(),
            "24 crash states, 7 cut by the bounds (2 flush prefixes, 5 write prefixes)"
        );

        let mut results = [recorded(0), recorded(0)];
        results[0].crash_states = states;
        results[1].crash_states = cut(3, 0, 1);
        let ids: Vec<TrialId> = results.iter().map(|r| r.id.clone()).collect();
        let summary = Summary::of(&ids, &results, &[]);
        assert_eq!((summary.crash_states, summary.crash_states_cut), (27, 8));
        assert!(
            summary
                .to_string()
                .ends_with("; 27 crash states checked, 8 cut by the bounds"),
            "{summary}"
        );
    }

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
