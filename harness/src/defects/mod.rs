//! The certification self-test (feature `defects`): the matrix must catch every deliberate
//! defect the engine can be built with.
//!
//! For each [`Defect`] the harness runs the scenarios that should catch it (a small scope, so
//! the whole self-test takes minutes) with that defect switched on, and reads the run's report:
//! the defect is caught only by a behaviour failure of a trial (an expectation, a crash check, a
//! crashed or hung engine). A golden byte difference alone is shown, but does not count: a
//! transcript is not a guarantee. The same scope runs first without any defect and must pass,
//! or a failure under a defect would prove nothing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use switchyard::defect::{self, Defect};

use crate::cli::SourceArgs;
use crate::error::HarnessError;
use crate::fs_kind::FsKind;
use crate::report::json::JsonReport;
use crate::report::{FailureKind, Outcome};

/// Where to look for one defect: scenario name filters and the filesystems to run them on.
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    pub defect: Defect,
    pub scenarios: &'static [&'static str],
    pub filesystems: &'static [FsKind],
}

const EXT4: &[FsKind] = &[FsKind::Ext4];

/// The scenarios expected to catch each defect. The self-test fails when they do not, so the
/// table is checked, not trusted.
pub const SCOPES: [Scope; 15] = [
    Scope {
        defect: Defect::ApplyUnlinkBeforeRename,
        scenarios: &["crash-kill-apply"],
        filesystems: EXT4,
    },
    Scope {
        defect: Defect::RollbackUnlinkBeforeRename,
        scenarios: &["crash-kill-rollback"],
        filesystems: EXT4,
    },
    Scope {
        defect: Defect::NoDirFsync,
        scenarios: &["crash-power-cut"],
        filesystems: EXT4,
    },
    Scope {
        defect: Defect::SidecarAfterSwap,
        scenarios: &["crash-kill-apply"],
        filesystems: EXT4,
    },
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

/// What one run under a defect (or under none) found.
#[derive(Debug)]
pub struct Finding {
    pub defect: Option<Defect>,
    /// Trials (`scenario/fs`) that failed by behaviour.
    pub caught_by: Vec<String>,
    /// Trials that failed only on a golden difference.
    pub golden_only: Vec<String>,
    /// Trials that failed for a reason that says nothing about the engine (a prerequisite, the
    /// harness itself): the self-test cannot conclude.
    pub inconclusive: Vec<String>,
    pub trials: usize,
}

impl Finding {
    pub fn caught(&self) -> bool {
        !self.caught_by.is_empty() && self.inconclusive.is_empty()
    }
}

/// Runs `fsmatrix run` (this executable) over the scope with the defect selected, and sorts its
/// failed trials.
pub fn try_defect(
    exe: &Path,
    work_dir: &Path,
    source: &SourceArgs,
    scope: &Scope,
    defect: Option<Defect>,
) -> Result<Finding, HarnessError> {
    let label = defect.map_or("none", Defect::name);
    let report_path = std::env::temp_dir().join(format!(
        "fsmatrix-defect-{}-{label}.json",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&report_path);
    let fs: Vec<&str> = scope.filesystems.iter().map(|f| f.as_str()).collect();
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
        .args(scope.scenarios)
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
            | FailureKind::TimedOut => finding.caught_by.push(name),
            FailureKind::GoldenMismatch | FailureKind::GoldenMissing => {
                finding.golden_only.push(name)
            }
            FailureKind::Prerequisite | FailureKind::NotRun | FailureKind::Harness => finding
                .inconclusive
                .push(format!("{name} ({})", failure.kind)),
        }
    }
    if report.trials.is_empty() || (status.success() != report.summary.failed.eq(&0)) {
        finding.inconclusive.push(format!(
            "the run exited {status} with {} trials",
            report.trials.len()
        ));
    }
    Ok(finding)
}

fn io_error(what: &'static str, path: &Path, source: std::io::Error) -> HarnessError {
    HarnessError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The table `fsmatrix defects` prints: defect -> trials that caught it.
pub fn table(findings: &[(Scope, Finding)]) -> String {
    let mut out = String::from("defect                          caught by\n");
    for (scope, finding) in findings {
        let verdict = if finding.caught() {
            finding.caught_by.join(", ")
        } else if !finding.inconclusive.is_empty() {
            format!("INCONCLUSIVE: {}", finding.inconclusive.join(", "))
        } else if !finding.golden_only.is_empty() {
            format!(
                "NOT CAUGHT (golden difference only: {})",
                finding.golden_only.join(", ")
            )
        } else {
            format!(
                "NOT CAUGHT by {} ({} trials passed)",
                scope.scenarios.join(", "),
                finding.trials
            )
        };
        let _ = writeln!(out, "{:<31} {verdict}", scope.defect.name());
    }
    out
}
