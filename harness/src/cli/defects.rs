//! `fsmatrix defects`: the certification self-test (feature `defects` only).

use std::path::Path;
use std::process::ExitCode;

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

    // Without a defect the same trials must pass, or a failure under one would prove nothing.
    for (filesystems, scenarios) in defects::baseline(&scopes) {
        let clean =
            defects::try_defect(&exe, work_dir, &args.source, &scenarios, &filesystems, None)?;
        let failed: Vec<String> = clean
            .caught_by
            .iter()
            .map(|c| c.trial.to_string())
            .chain(clean.golden_only)
            .chain(clean.inconclusive)
            .collect();
        if !failed.is_empty() {
            eprintln!(
                "error: the self-test's scenarios fail without any defect ({}); fix that first",
                failed.join(", ")
            );
            return Ok(ExitCode::from(exit::TRIALS_FAILED));
        }
    }

    let mut findings = Vec::new();
    for scope in scopes {
        let run = || {
            defects::try_defect(
                &exe,
                work_dir,
                &args.source,
                scope.scenarios,
                scope.filesystems,
                Some(scope.defect),
            )
        };
        let mut finding = run()?;
        reset_canary()?;
        // A trial that failed for the machine's sake (a mount, a loop device another process
        // held) says nothing about the engine: such a run is tried once more, and reported as
        // inconclusive if it fails so again.
        if !finding.caught(&scope) && !finding.inconclusive.is_empty() {
            finding = run()?;
            reset_canary()?;
        }
        findings.push((scope, finding));
    }
    print!("{}", defects::table(&findings));
    let (caught, of) = defects::defects_caught(&findings);
    println!("{caught} of {of} defects caught by the matrix");
    Ok(ExitCode::from(if caught == of {
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
