//! `fsmatrix golden update`: run the selected scenarios and write their transcripts as golden
//! files, only when every filesystem in each scenario's scope ran, produced the same bytes and
//! passed. A selection that leaves some of them out (`--fs`, `--partition`) is refused before
//! anything runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use super::args::{ExecArgs, SelectArgs};
use super::ci;
use super::out::outln;
use super::session::Session;
use super::source::{Selection, select};
use crate::error::{HarnessError, exit};
use crate::fs_kind::FsKind;
use crate::golden;
use crate::matrix::NameFilter;
use crate::report::Outcome;
use crate::runner;

pub(super) fn update(
    work_dir: &Path,
    select_args: &SelectArgs,
    exec: &ExecArgs,
) -> Result<ExitCode, HarnessError> {
    if ci::is_set() {
        return Err(HarnessError::GoldenUpdateInCi);
    }
    let selection = select(select_args)?;
    let scopes = whole_scopes(select_args, &selection)?;
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
        let scope = scopes.get(scenario).map_or(&[][..], Vec::as_slice);
        if let Some(problem) = incomplete(&trials, scope).or_else(|| disagreement(&trials)) {
            refused += 1;
            outln!("not updated: {scenario}: {problem}");
            continue;
        }
        let transcript = trials[0].transcript.as_deref().unwrap_or_default();
        let before = golden::read(golden_dir, scenario).map_err(|source| HarnessError::Input {
            what: "read",
            path: golden::path(golden_dir, scenario),
            source,
        })?;
        if before.as_deref() == Some(transcript) {
            outln!(
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
        outln!(
            "updated: {} (the same on {})",
            golden::path(golden_dir, scenario).display(),
            fs.join(", ")
        );
    }
    if refused > 0 {
        outln!(
            "{refused} scenario(s) not updated; run directory kept for inspection: {}",
            session.run_dir.path().display()
        );
        return Ok(ExitCode::from(exit::TRIALS_FAILED));
    }
    let path = session.run_dir.path().to_owned();
    session
        .run_dir
        .remove()
        .map_err(|source| HarnessError::Io {
            what: "remove the run directory",
            path,
            source,
        })?;
    Ok(ExitCode::from(exit::PASSED))
}

/// Each selected scenario's whole scope: every filesystem it runs on. Refuses a selection that
/// leaves any of them out, since a golden recorded from some of them may disagree with the rest.
fn whole_scopes(
    args: &SelectArgs,
    selection: &Selection,
) -> Result<BTreeMap<String, Vec<FsKind>>, HarnessError> {
    if let Some(p) = args.partition {
        return Err(HarnessError::Usage(format!(
            "golden update does not take --partition {}/{}: a golden is written only from every \
             filesystem of its scenario, and a shard holds only some of them",
            p.index, p.count
        )));
    }
    let mut scopes = BTreeMap::new();
    let mut left_out = Vec::new();
    for scenario in &selection.scenarios {
        if !NameFilter(args.filters.clone()).accepts(&scenario.name) {
            continue;
        }
        let scope = scenario.filesystems_in(&FsKind::ALL);
        let missing: Vec<&str> = scope
            .iter()
            .filter(|fs| !args.fs.is_empty() && !args.fs.contains(fs))
            .map(|fs| fs.as_str())
            .collect();
        if !missing.is_empty() {
            left_out.push(format!("{} (not on {})", scenario.name, missing.join(", ")));
        }
        scopes.insert(scenario.name.clone(), scope);
    }
    if !left_out.is_empty() {
        return Err(HarnessError::Usage(format!(
            "golden update needs every filesystem of each scenario's scope, but --fs leaves some \
             out: {}; drop --fs, or name all of them",
            left_out.join("; ")
        )));
    }
    Ok(scopes)
}

/// A scope's filesystem that has no trial among `trials`.
fn incomplete(trials: &[&runner::Executed], scope: &[FsKind]) -> Option<String> {
    let missing: Vec<&str> = scope
        .iter()
        .filter(|fs| !trials.iter().any(|t| t.result.id.fs == **fs))
        .map(|fs| fs.as_str())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "no trial on {}: a golden is written only when every filesystem of its scope ran",
            missing.join(", ")
        )
    })
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
