//! The certification self-test (feature `defects`): the matrix must catch every deliberate
//! defect the engine can be built with.
//!
//! For each [`Defect`] the harness runs the scenarios that should catch it (one or more small
//! scopes, so the whole self-test takes minutes) with that defect switched on, and reads the
//! run's report: the defect is caught only by a behaviour failure of a trial (an expectation, a
//! crash check, a crashed or hung engine), on every filesystem of every scope of the defect. A
//! golden byte difference alone is shown, but does not count: a transcript is not a guarantee.
//! The table names, beside each trial that caught a defect, the checks of its report that failed
//! (`durable`, `watcher`, `crash_window`, ...). The same scenarios run first without any defect
//! and must pass, or a failure under a defect would prove nothing.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use switchyard::defect::{self, Defect};

use crate::cli::SourceArgs;
use crate::error::HarnessError;
use crate::fs_kind::FsKind;
use crate::matrix::TrialId;
use crate::report::json::JsonReport;
use crate::report::{FailureKind, Outcome};

/// Where to look for one defect: scenario name filters and the filesystems to run them on. On
/// each of those filesystems, one of the scenarios must catch the defect.
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    pub defect: Defect,
    pub scenarios: &'static [&'static str],
    pub filesystems: &'static [FsKind],
}

const EXT4: &[FsKind] = &[FsKind::Ext4];

/// The scenarios expected to catch each defect. The self-test fails when they do not, so the
/// table is checked, not trusted. A defect with several scopes must be caught by each: each
/// names a way of catching it that the matrix relies on.
pub const SCOPES: [Scope; 18] = [
    Scope {
        defect: Defect::ApplyUnlinkBeforeRename,
        scenarios: &["crash-kill-apply"],
        filesystems: EXT4,
    },
    // A journal commits the unlink and the rename in one transaction, so no recorded state shows
    // the gap: the recorded trials must catch it by watching their steps too.
    Scope {
        defect: Defect::ApplyUnlinkBeforeRename,
        scenarios: &["crash-recorded-apply"],
        filesystems: EXT4,
    },
    Scope {
        defect: Defect::RollbackUnlinkBeforeRename,
        scenarios: &["crash-kill-rollback"],
        filesystems: EXT4,
    },
    Scope {
        defect: Defect::RollbackUnlinkBeforeRename,
        scenarios: &["crash-recorded-rollback"],
        filesystems: EXT4,
    },
    Scope {
        defect: Defect::NoDirFsync,
        scenarios: &["crash-power-cut"],
        filesystems: EXT4,
    },
    // The recorded crash states must catch it on their own, on each block filesystem: btrfs has
    // no power cut, so no other trial checks there what a missing fsync loses.
    Scope {
        defect: Defect::NoDirFsync,
        scenarios: &["crash-recorded-apply"],
        filesystems: &[FsKind::Ext4, FsKind::Btrfs, FsKind::Xfs],
    },
    Scope {
        defect: Defect::SidecarAfterSwap,
        scenarios: &["crash-kill-apply"],
        filesystems: EXT4,
    },
    // Whether a recorded state shows the half-written record depends on how the filesystem
    // batched the writes; the watcher sees the write under the final name every time.
    Scope {
        defect: Defect::SidecarInPlace,
        scenarios: &["crash-recorded-apply"],
        filesystems: EXT4,
    },
    Scope {
        defect: Defect::TypeOnlyIdempotency,
        scenarios: &["drift-same-size", "backup-altered"],
        filesystems: EXT4,
    },
    Scope {
        defect: Defect::RollbackWithoutLock,
        scenarios: &["rollback-lock-contention"],
        filesystems: EXT4,
    },
    Scope {
        defect: Defect::AutoRollbackIgnored,
        scenarios: &["smoke-failure-kept"],
        filesystems: EXT4,
    },
    Scope {
        defect: Defect::RescueProbeIgnored,
        scenarios: &["rescue-probe-fails"],
        filesystems: EXT4,
    },
    Scope {
        defect: Defect::RestoreWithoutDriftCheck,
        scenarios: &["restore-request-drift"],
        filesystems: EXT4,
    },
    Scope {
        defect: Defect::SymlinkPriorAsCopy,
        scenarios: &["backup-store-second-fs-symlink"],
        filesystems: EXT4,
    },
    Scope {
        defect: Defect::NoResolveInRoot,
        scenarios: &["parent-symlink-escape", "path-escape"],
        filesystems: EXT4,
    },
    Scope {
        defect: Defect::BackupPlacedLinkAgain,
        scenarios: &["apply-twice"],
        filesystems: EXT4,
    },
    Scope {
        defect: Defect::ReportMiscounted,
        scenarios: &["rollback-idempotent"],
        filesystems: EXT4,
    },
    Scope {
        defect: Defect::FallbackWithoutBackup,
        scenarios: &["swap-no-exchange"],
        filesystems: EXT4,
    },
];

/// One trial that failed by behaviour under a defect, and the checks of its report that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catch {
    pub trial: TrialId,
    /// [`Failure::caught_by`]: the failing checks (`durable`, `watcher`, ...) or else the kind.
    pub by: String,
}

impl fmt::Display for Catch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.trial, self.by)
    }
}

/// What one run under a defect (or under none) found.
#[derive(Debug)]
pub struct Finding {
    pub defect: Option<Defect>,
    /// Trials that failed by behaviour.
    pub caught_by: Vec<Catch>,
    /// Trials (`scenario@fs`) that failed only on a golden difference.
    pub golden_only: Vec<String>,
    /// Trials that failed for a reason that says nothing about the engine (a prerequisite, the
    /// harness itself): the self-test cannot conclude.
    pub inconclusive: Vec<String>,
    pub trials: usize,
}

impl Finding {
    /// Sorts the failed trials of a run's report.
    pub fn of(report: &JsonReport, defect: Option<Defect>) -> Finding {
        let mut finding = Finding {
            defect,
            caught_by: Vec::new(),
            golden_only: Vec::new(),
            inconclusive: Vec::new(),
            trials: report.trials.len(),
        };
        for trial in &report.trials {
            let Outcome::Failed(failure) = &trial.outcome else {
                continue;
            };
            let name = trial.id.to_string();
            match failure.kind {
                FailureKind::Expectation
                | FailureKind::CrashSafety
                | FailureKind::ChildCrashed
                | FailureKind::TimedOut => finding.caught_by.push(Catch {
                    trial: trial.id.clone(),
                    by: failure.caught_by(),
                }),
                FailureKind::GoldenMismatch | FailureKind::GoldenMissing => {
                    finding.golden_only.push(name)
                }
                FailureKind::Prerequisite | FailureKind::NotRun | FailureKind::Harness => finding
                    .inconclusive
                    .push(format!("{name} ({})", failure.kind)),
            }
        }
        finding
    }

    /// The filesystems of `scope` on which no trial caught the defect: a scope on several
    /// filesystems certifies each of them, not any one.
    pub fn missed_on(&self, scope: &Scope) -> Vec<FsKind> {
        scope
            .filesystems
            .iter()
            .filter(|fs| !self.caught_by.iter().any(|c| c.trial.fs == **fs))
            .copied()
            .collect()
    }

    /// Caught on every filesystem of `scope`, and nothing inconclusive.
    pub fn caught(&self, scope: &Scope) -> bool {
        self.missed_on(scope).is_empty() && self.inconclusive.is_empty()
    }
}

/// Runs `fsmatrix run` (this executable) over `scenarios` on `filesystems` with the defect
/// selected, and sorts its failed trials.
pub fn try_defect(
    exe: &Path,
    work_dir: &Path,
    source: &SourceArgs,
    scenarios: &[&str],
    filesystems: &[FsKind],
    defect: Option<Defect>,
) -> Result<Finding, HarnessError> {
    let label = defect.map_or("none", Defect::name);
    let report_path = std::env::temp_dir().join(format!(
        "fsmatrix-defect-{}-{label}.json",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&report_path);
    let fs: Vec<&str> = filesystems.iter().map(|f| f.as_str()).collect();
    let mut run = Command::new(exe);
    run.arg("--work-dir")
        .arg(work_dir)
        .arg("run")
        .arg("--scenarios")
        .arg(&source.scenarios)
        .arg("--golden")
        .arg(&source.golden)
        .args(["--fs", &fs.join(","), "--json"])
        .arg(&report_path)
        .args(scenarios)
        .env(defect::ENV, defect.map_or("", Defect::name));
    let status = run
        .status()
        .map_err(|source| io_error("run", exe, source))?;
    let report = JsonReport::read(&report_path).map_err(|source| HarnessError::Io {
        what: "read the report of a defect run",
        path: PathBuf::from(&report_path),
        source,
    })?;
    let _ = std::fs::remove_file(&report_path);
    let mut finding = Finding::of(&report, defect);
    if report.trials.is_empty() || (status.success() != report.summary.failed.eq(&0)) {
        finding.inconclusive.push(format!(
            "the run exited {status} with {} trials",
            report.trials.len()
        ));
    }
    Ok(finding)
}

/// The runs without any defect that must pass first: each filesystem runs the scenarios of the
/// scopes that name it (not every scenario of every scope on every filesystem of any scope), and
/// filesystems with the same scenarios share a run.
pub fn baseline(scopes: &[Scope]) -> Vec<(Vec<FsKind>, Vec<&'static str>)> {
    let mut filesystems: Vec<FsKind> = scopes.iter().flat_map(|s| s.filesystems).copied().collect();
    filesystems.sort_unstable();
    filesystems.dedup();
    let mut runs: Vec<(Vec<FsKind>, Vec<&'static str>)> = Vec::new();
    for fs in filesystems {
        let mut scenarios: Vec<&str> = scopes
            .iter()
            .filter(|s| s.filesystems.contains(&fs))
            .flat_map(|s| s.scenarios)
            .copied()
            .collect();
        scenarios.sort_unstable();
        scenarios.dedup();
        match runs.iter_mut().find(|(_, s)| *s == scenarios) {
            Some((on, _)) => on.push(fs),
            None => runs.push((vec![fs], scenarios)),
        }
    }
    runs
}

fn io_error(what: &'static str, path: &Path, source: std::io::Error) -> HarnessError {
    HarnessError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// How many of the defects in `findings` were caught, and of how many. A defect may have several
/// scopes; it is caught only when each of them caught it.
pub fn defects_caught(findings: &[(Scope, Finding)]) -> (usize, usize) {
    let defects = by_defect(findings);
    let caught = defects
        .iter()
        .filter(|(_, scopes)| scopes.iter().all(|(s, f)| f.caught(s)))
        .count();
    (caught, defects.len())
}

/// `findings` grouped by defect, in the order of their first scope.
fn by_defect(findings: &[(Scope, Finding)]) -> Vec<(Defect, Vec<&(Scope, Finding)>)> {
    let mut groups: Vec<(Defect, Vec<&(Scope, Finding)>)> = Vec::new();
    for pair in findings {
        match groups.iter_mut().find(|(d, _)| *d == pair.0.defect) {
            Some((_, scopes)) => scopes.push(pair),
            None => groups.push((pair.0.defect, vec![pair])),
        }
    }
    groups
}

/// What one scope's run says: `Ok` with the catches, or `Err` with why it did not catch.
fn verdict(scope: &Scope, finding: &Finding) -> Result<String, String> {
    if finding.caught(scope) {
        let catches: Vec<String> = finding.caught_by.iter().map(Catch::to_string).collect();
        return Ok(catches.join(", "));
    }
    if !finding.inconclusive.is_empty() {
        return Err(format!("INCONCLUSIVE: {}", finding.inconclusive.join(", ")));
    }
    let missed: Vec<&str> = finding
        .missed_on(scope)
        .iter()
        .map(|f| f.as_str())
        .collect();
    let mut why = format!(
        "NOT CAUGHT by {} on {} ({} trials ran)",
        scope.scenarios.join(", "),
        missed.join(", "),
        finding.trials
    );
    if !finding.golden_only.is_empty() {
        why.push_str(&format!(
            "; golden difference only: {}",
            finding.golden_only.join(", ")
        ));
    }
    Err(why)
}

/// The table `fsmatrix defects` prints: each defect, and the trials that caught it with the
/// checks that failed in each.
pub fn table(findings: &[(Scope, Finding)]) -> String {
    let mut out = String::from("defect                          caught by\n");
    for (defect, scopes) in by_defect(findings) {
        let verdicts: Vec<Result<String, String>> =
            scopes.iter().map(|(s, f)| verdict(s, f)).collect();
        let line = if verdicts.iter().all(Result::is_ok) {
            verdicts
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            verdicts
                .into_iter()
                .filter_map(Result::err)
                .collect::<Vec<_>>()
                .join("; ")
        };
        let _ = writeln!(out, "{:<31} {line}", defect.name());
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::{CrashStates, Failure, Summary, TrialResult};

    const RECORDED: &[&str] = &["crash-recorded-apply"];
    const BLOCK: &[FsKind] = &[FsKind::Ext4, FsKind::Btrfs, FsKind::Xfs];

    fn trial(scenario: &str, fs: FsKind, failure: Option<Failure>) -> TrialResult {
        TrialResult {
            id: TrialId {
                scenario: scenario.into(),
                fs,
            },
            outcome: failure.map_or(Outcome::Passed, Outcome::Failed),
            duration: Duration::ZERO,
            crash_states: CrashStates::default(),
        }
    }

    fn failed(kind: FailureKind, checks: &[&str]) -> Option<Failure> {
        Some(Failure::new(kind, "message").with_checks(checks.iter().copied()))
    }

    fn report(trials: Vec<TrialResult>) -> JsonReport {
        JsonReport {
            summary: Summary::default(),
            scopes: Vec::new(),
            trials,
        }
    }

    fn scope(defect: Defect, scenarios: &'static [&'static str], fs: &'static [FsKind]) -> Scope {
        Scope {
            defect,
            scenarios,
            filesystems: fs,
        }
    }

    /// The table says which check of each failing trial's report caught the defect, or the
    /// kind of failure where no check is named.
    #[test]
    fn the_table_names_the_checks_that_caught_each_defect() {
        let recorded = scope(Defect::NoDirFsync, RECORDED, &[FsKind::Btrfs]);
        let kill = scope(Defect::ApplyUnlinkBeforeRename, &["crash-kill-apply"], EXT4);
        let findings = [
            (
                recorded,
                Finding::of(
                    &report(vec![trial(
                        "crash-recorded-apply",
                        FsKind::Btrfs,
                        failed(FailureKind::CrashSafety, &["targets_exact", "durable"]),
                    )]),
                    Some(recorded.defect),
                ),
            ),
            (
                kill,
                Finding::of(
                    &report(vec![
                        trial(
                            "crash-kill-apply",
                            FsKind::Ext4,
                            failed(FailureKind::CrashSafety, &["watcher"]),
                        ),
                        trial(
                            "crash-kill-apply-2",
                            FsKind::Ext4,
                            failed(FailureKind::ChildCrashed, &[]),
                        ),
                    ]),
                    Some(kill.defect),
                ),
            ),
        ];
        let table = table(&findings);
        assert!(
            table.contains(
                "no-dir-fsync                    crash-recorded-apply@btrfs (targets_exact, durable)\n"
            ),
            "{table}"
        );
        assert!(
            table.contains(
                "apply-unlink-before-rename      crash-kill-apply@ext4 (watcher), \
                 crash-kill-apply-2@ext4 (child-crashed)\n"
            ),
            "{table}"
        );
        assert_eq!(defects_caught(&findings), (2, 2));
    }

    /// A scope on several filesystems certifies each: a catch on two of three is not enough.
    #[test]
    fn a_scope_catches_only_when_every_filesystem_of_it_does() {
        let recorded = scope(Defect::NoDirFsync, RECORDED, BLOCK);
        let finding = Finding::of(
            &report(vec![
                trial(
                    "crash-recorded-apply",
                    FsKind::Ext4,
                    failed(FailureKind::CrashSafety, &["durable"]),
                ),
                trial("crash-recorded-apply", FsKind::Btrfs, None),
                trial(
                    "crash-recorded-apply",
                    FsKind::Xfs,
                    failed(FailureKind::CrashSafety, &["durable"]),
                ),
            ]),
            Some(recorded.defect),
        );
        assert_eq!(finding.missed_on(&recorded), [FsKind::Btrfs]);
        assert!(!finding.caught(&recorded));
        let findings = [(recorded, finding)];
        let table = table(&findings);
        assert!(
            table.contains("NOT CAUGHT by crash-recorded-apply on btrfs (3 trials ran)"),
            "{table}"
        );
        assert_eq!(defects_caught(&findings), (0, 1));
    }

    /// A defect with several scopes is caught only when each of them catches it.
    #[test]
    fn every_scope_of_a_defect_must_catch_it() {
        let power_cut = scope(Defect::NoDirFsync, &["crash-power-cut"], EXT4);
        let recorded = scope(Defect::NoDirFsync, RECORDED, EXT4);
        let findings = [
            (
                power_cut,
                Finding::of(
                    &report(vec![trial(
                        "crash-power-cut",
                        FsKind::Ext4,
                        failed(FailureKind::CrashSafety, &["targets_present"]),
                    )]),
                    Some(Defect::NoDirFsync),
                ),
            ),
            (
                recorded,
                Finding::of(
                    &report(vec![trial("crash-recorded-apply", FsKind::Ext4, None)]),
                    Some(Defect::NoDirFsync),
                ),
            ),
        ];
        assert_eq!(defects_caught(&findings), (0, 1));
        let table = table(&findings);
        assert_eq!(table.lines().count(), 2, "one line per defect: {table}");
        assert!(
            table.contains("NOT CAUGHT by crash-recorded-apply on ext4"),
            "{table}"
        );
    }

    /// Each filesystem runs the scenarios of the scopes that name it, not those of every scope;
    /// filesystems with the same scenarios share a run.
    #[test]
    fn the_baseline_runs_each_filesystem_with_its_own_scenarios() {
        let scopes = [
            scope(Defect::NoDirFsync, &["crash-power-cut"], EXT4),
            scope(Defect::NoDirFsync, RECORDED, BLOCK),
            scope(Defect::ApplyUnlinkBeforeRename, &["crash-kill-apply"], EXT4),
        ];
        assert_eq!(
            baseline(&scopes),
            [
                (
                    vec![FsKind::Ext4],
                    vec![
                        "crash-kill-apply",
                        "crash-power-cut",
                        "crash-recorded-apply"
                    ]
                ),
                (
                    vec![FsKind::Btrfs, FsKind::Xfs],
                    vec!["crash-recorded-apply"]
                ),
            ]
        );
    }
}
