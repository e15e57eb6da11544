//! `fsmatrix clean`: reclaim what runs killed with SIGKILL left behind.

use std::path::Path;
use std::process::ExitCode;

use super::out::{self, outln};
use crate::docker::{CleanOptions, Docker};
use crate::error::HarnessError;
use crate::workdir;

pub(super) fn clean(work_dir: &Path) -> Result<ExitCode, HarnessError> {
    let cleaned = workdir::clean(work_dir)?;
    for (run, sweep) in cleaned.runs.iter().zip(&cleaned.sweeps) {
        outln!(
            "removed {} ({} unmounted, {} loop devices detached)",
            run.display(),
            sweep.unmounted.len() + sweep.lazily_unmounted.len(),
            sweep.detached.len()
        );
    }
    for run in &cleaned.alive {
        outln!("left {} alone: its run is still going", run.display());
    }
    if cleaned.runs.is_empty() && cleaned.alive.is_empty() {
        outln!("no runs under {}", work_dir.display());
    }
    // Containers are only reachable through the engine; without one there are none to remove.
    match Docker::connect() {
        Ok(docker) => out::write(format_args!(
            "{}",
            docker.clean(&CleanOptions { images: true })?
        )),
        Err(e) if e.is_unreachable() => outln!("no Docker engine to clean ({e})"),
        Err(e) => return Err(e.into()),
    }
    Ok(ExitCode::SUCCESS)
}
