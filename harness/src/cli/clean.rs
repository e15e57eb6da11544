//! `fsmatrix clean`: reclaim what runs killed with SIGKILL left behind in one work directory,
//! and nothing else: dead runs (their lock is free), their processes, mounts, loop devices and
//! containers, and the runner images only its dead runs used.

use std::path::Path;
use std::process::ExitCode;

use super::out::{self, outln};
use crate::docker::{CleanOptions, Docker};
use crate::error::HarnessError;
use crate::workdir::Survey;

pub(super) fn clean(work_dir: &Path) -> Result<ExitCode, HarnessError> {
    let Some(survey) = Survey::of(work_dir)? else {
        outln!("no work directory {}", work_dir.display());
        return Ok(ExitCode::SUCCESS);
    };
    // Containers first: a dead run's container may still hold loop devices that only its own
    // mount namespace names.
    match Docker::connect() {
        Ok(docker) => {
            let report = docker.clean(&CleanOptions {
                work_dir: survey.work_dir().to_owned(),
                dead_runs: survey.dead_runs(),
                images: survey.images_of_dead_runs(),
            })?;
            survey.forget_images(&report.images)?;
            out::write(format_args!("{report}"));
        }
        // Containers are only reachable through the engine; without one there are none.
        Err(e) if e.is_unreachable() => outln!("no Docker engine to clean ({e})"),
        Err(e) => return Err(e.into()),
    }
    let work_dir = survey.work_dir().to_owned();
    let cleaned = survey.sweep()?;
    for (run, sweep) in cleaned.runs.iter().zip(&cleaned.sweeps) {
        outln!(
            "removed {} ({} unmounted, {} loop devices detached)",
            run.display(),
            sweep.unmounted.len() + sweep.lazily_unmounted.len(),
            sweep.detached.len()
        );
    }
    for (path, why) in &cleaned.left {
        outln!("left {} alone: {why}", path.display());
    }
    if cleaned.runs.is_empty() && cleaned.left.is_empty() {
        outln!("no runs under {}", work_dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
