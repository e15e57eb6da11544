//! What every command that runs trials sets up: a cancel flag raised by SIGINT and SIGTERM, a
//! run directory, and the runner that executes the selection on this machine.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::args::ExecArgs;
use super::source::Selection;
use crate::error::HarnessError;
use crate::report::TerminalReporter;
use crate::runner::{self, Executed, RunConfig};
use crate::signal::Cancel;
use crate::workdir::RunDir;

#[derive(Debug)]
pub(super) struct Session {
    pub(super) cancel: Cancel,
    pub(super) run_dir: RunDir,
}

impl Session {
    pub(super) fn start(work_dir: &Path) -> Result<Session, HarnessError> {
        let cancel = Cancel::on_signals().map_err(|source| HarnessError::Io {
            what: "install signal handlers for",
            path: "SIGINT/SIGTERM".into(),
            source,
        })?;
        let run_dir = RunDir::create(work_dir)?;
        Ok(Session { cancel, run_dir })
    }

    /// Runs the selection's trials here, reporting on the terminal as they finish.
    pub(super) fn run_trials(
        &self,
        selection: &Selection,
        golden_dir: &Path,
        exec: &ExecArgs,
        verify_golden: bool,
    ) -> Result<Vec<Executed>, HarnessError> {
        let config = RunConfig {
            exe: fsmatrix_exe()?,
            scenario_files: selection.files(),
            golden_dir: golden_dir.to_owned(),
            run_dir: &self.run_dir,
            jobs: exec.jobs,
            trial_timeout: Duration::from_secs(exec.trial_timeout),
            verify_golden,
        };
        let mut reporter = TerminalReporter::new();
        runner::run(
            &selection.matrix.trials,
            &selection.matrix.scopes,
            &config,
            &self.cancel,
            "host",
            |event| reporter.report(event),
        )
        .map_err(|source| HarnessError::Io {
            what: "become the reaper of",
            path: "the trials' orphans".into(),
            source,
        })
    }
}

/// This very binary: what runs each trial, and what goes into the runner image.
pub(super) fn fsmatrix_exe() -> Result<PathBuf, HarnessError> {
    std::env::current_exe().map_err(|source| HarnessError::Io {
        what: "find the fsmatrix binary",
        path: "/proc/self/exe".into(),
        source,
    })
}
