//! `fsmatrix golden update`: run the selected scenarios and write their transcripts as golden
//! files, only when every filesystem in scope produced the same bytes and every trial passed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use super::args::{ExecArgs, SelectArgs};
use super::session::Session;
use super::source::select;
use crate::error::{HarnessError, exit};
use crate::golden;
use crate::report::Outcome;
use crate::runner;

pub(super) fn update(
    work_dir: &Path,
    select_args: &SelectArgs,
    exec: &ExecArgs,
) -> Result<ExitCode, HarnessError> {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        return Err(HarnessError::GoldenUpdateInCi);
    }
    let selection = select(select_args)?;
    let session = Session::start(work_dir)?;
    let golden_dir = &select_args.source.golden;
    let executed = session.run_trials(&selection, golden_dir, exec, false)?;
    if session.cancel.is_cancelled() {
        return Ok(ExitCode::from(exit::INTERRUPTED));
    }

    let mut by_scenario: BTreeMap<&str, Vec<&runner::Executed>> = BTreeMap::new();
    for e in &executed {
        by_scenario
            .entry(&e.result.id.scenario)
            .or_default()
            .push(e);
    }
    let mut refused = 0;
    for (scenario, trials) in by_scenario {
        if let Some(problem) = disagreement(&trials) {
            refused += 1;
            println!("not updated: {scenario}: {problem}");
            continue;
        }
        let transcript = trials[0].transcript.as_deref().unwrap_or_default();
        let before = golden::read(golden_dir, scenario).map_err(|source| HarnessError::Io {
            what: "read",
            path: golden::path(golden_dir, scenario),
            source,
        })?;
        if before.as_deref() == Some(transcript) {
            println!(
                "unchanged: {}",
                golden::path(golden_dir, scenario).display()
            );
            continue;
        }
        golden::write(golden_dir, scenario, transcript).map_err(|source| HarnessError::Io {
            what: "write",
            path: golden::path(golden_dir, scenario),
            source,
        })?;
        let fs: Vec<String> = trials.iter().map(|t| t.result.id.fs.to_string()).collect();
        println!(
            "updated: {} (the same on {})",
            golden::path(golden_dir, scenario).display(),
            fs.join(", ")
        );
    }
    Ok(ExitCode::from(if refused == 0 {
        exit::PASSED
    } else {
        exit::TRIALS_FAILED
    }))
}

/// Why a scenario's trials cannot become its golden file: a failed trial, or filesystems that
/// disagree (with the diff between the first and the first differing one).
fn disagreement(trials: &[&runner::Executed]) -> Option<String> {
    for t in trials {
        if let Outcome::Failed(f) = &t.result.outcome {
            return Some(format!("{} failed: {}", t.result.id, f.message));
        }
    }
    let first = trials[0];
    let reference = first.transcript.as_deref().unwrap_or_default();
    trials[1..].iter().find_map(|t| {
        let other = t.transcript.as_deref().unwrap_or_default();
        (other != reference).then(|| {
            format!(
                "filesystems disagree; a filesystem that differs must be fixed, not recorded:\n{}",
                golden::head(&golden::unified_diff(
                    reference,
                    other,
                    &first.result.id.to_string(),
                    &t.result.id.to_string()
                ))
            )
        })
    })
}
