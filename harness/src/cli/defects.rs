//! `fsmatrix defects`: the certification self-test (feature `defects` only).

use std::path::Path;
use std::process::ExitCode;

use switchyard::defect::Defect;

use super::args::DefectsArgs;
use crate::defects::{self, SCOPES, Scope};
use crate::error::{HarnessError, exit};
use crate::trial::CANARY;

pub(super) fn defects(work_dir: &Path, args: &DefectsArgs) -> Result<ExitCode, HarnessError> {
    let exe = std::env::current_exe().map_err(|source| HarnessError::Io {
        what: "find this executable",
        path: "fsmatrix".into(),
        source,
    })?;
    let scopes: Vec<Scope> = SCOPES
        .into_iter()
        .filter(|s| args.only.is_empty() || args.only.contains(&s.defect))
        .collect();

    // Without a defect the same scenarios must pass, or a failure under one would prove nothing.
    let mut baseline: Vec<&str> = scopes.iter().flat_map(|s| s.scenarios).copied().collect();
    baseline.sort_unstable();
    baseline.dedup();
    let mut filesystems: Vec<_> = scopes.iter().flat_map(|s| s.filesystems).copied().collect();
    filesystems.sort_unstable();
    filesystems.dedup();
    let all = Scope {
        defect: Defect::ALL[0],
        scenarios: baseline.leak(),
        filesystems: filesystems.leak(),
    };
    let clean = defects::try_defect(&exe, work_dir, &args.source, &all, None)?;
    if !clean.caught_by.is_empty()
        || !clean.golden_only.is_empty()
        || !clean.inconclusive.is_empty()
    {
        eprintln!(
            "error: the self-test's scenarios fail without any defect ({}); fix that first",
            [clean.caught_by, clean.golden_only, clean.inconclusive]
                .concat()
                .join(", ")
        );
        return Ok(ExitCode::from(exit::TRIALS_FAILED));
    }

    let mut findings = Vec::new();
    for scope in scopes {
        let mut finding =
            defects::try_defect(&exe, work_dir, &args.source, &scope, Some(scope.defect))?;
        reset_canary()?;
        // A trial that failed for the machine's sake (a mount, a loop device another process
        // held) says nothing about the engine: such a run is tried once more, and reported as
        // inconclusive if it fails so again.
        if !finding.caught() && !finding.inconclusive.is_empty() {
            finding =
                defects::try_defect(&exe, work_dir, &args.source, &scope, Some(scope.defect))?;
            reset_canary()?;
        }
        findings.push((scope, finding));
    }
    print!("{}", defects::table(&findings));
    let missed = findings.iter().filter(|(_, f)| !f.caught()).count();
    println!(
        "{} of {} defects caught by the matrix",
        findings.len() - missed,
        findings.len()
    );
    Ok(ExitCode::from(if missed == 0 {
        exit::PASSED
    } else {
        exit::TRIALS_FAILED
    }))
}

/// A defect that led the engine out of the root wrote into the canary; the next run starts from a
/// fresh one.
fn reset_canary() -> Result<(), HarnessError> {
    match std::fs::remove_dir_all(CANARY) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(HarnessError::Io {
            what: "reset",
            path: CANARY.into(),
            source: e,
        }),
        _ => Ok(()),
    }
}
