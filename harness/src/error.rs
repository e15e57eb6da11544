//! The harness's errors and its documented exit codes.
//!
//! | code | meaning                                                                  |
//! |------|--------------------------------------------------------------------------|
//! | 0    | every trial in scope passed                                              |
//! | 1    | at least one trial failed (a step, a crash check, a golden difference, a timeout, a crashed child) |
//! | 2    | a scenario file is invalid, or a golden file has no scenario; no trial was started (also: the requirements traceability is broken, or the guarantees table is not current) |
//! | 3    | the machine lacks a prerequisite (a tool, a device, privilege, a Docker engine, a private work directory, room in it) |
//! | 4    | the harness itself failed (its own files, a fixture it could not release) |
//! | 64   | the command line is wrong, or the command is refused here (golden update under CI) |
//! | 130  | interrupted (SIGINT or SIGTERM); everything was released before exiting   |

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::docker::DockerError;
use crate::fixture::FixtureError;
use crate::input::ReadError;
use crate::scenario::ScenarioErrors;
use crate::trace::TraceErrors;
use crate::workdir::WorkDirError;

pub mod exit {
    pub const PASSED: u8 = 0;
    pub const TRIALS_FAILED: u8 = 1;
    pub const BAD_SCENARIOS: u8 = 2;
    pub const PREREQUISITE: u8 = 3;
    pub const HARNESS: u8 = 4;
    pub const USAGE: u8 = 64;
    pub const INTERRUPTED: u8 = 130;
}

/// What stops a command before or outside the trials.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{0}")]
    Scenarios(#[from] ScenarioErrors),

    #[error("{0}")]
    Trace(#[from] TraceErrors),

    #[error(
        "{} is not the current guarantees table: run `fsmatrix trace --write {}` and commit it",
        .0.display(), .0.display()
    )]
    StaleGuarantees(PathBuf),

    #[error("{0}")]
    Docker(#[from] DockerError),

    #[error("{}", chain(.0))]
    Fixture(#[from] FixtureError),

    #[error("{0}")]
    WorkDir(#[from] WorkDirError),

    #[error("cannot {what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// An input file (a golden transcript, a guarantees table) that is not a regular file of
    /// reasonable size, or could not be read.
    #[error("cannot {what} {}", path.display())]
    Input {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: ReadError,
    },

    #[error(
        "golden files without a scenario in {}: {}; remove them, or restore their scenarios",
        dir.display(),
        files.join(", ")
    )]
    OrphanGoldens { dir: PathBuf, files: Vec<String> },

    #[error(
        "golden files are only written on purpose, never in CI (CI is set to a true value: true, 1, yes or on); \
         run `fsmatrix golden update` on a workstation and commit the result"
    )]
    GoldenUpdateInCi,

    #[error("{0}")]
    Usage(String),
}

impl HarnessError {
    pub fn exit_code(&self) -> u8 {
        match self {
            HarnessError::Scenarios(_)
            | HarnessError::Trace(_)
            | HarnessError::StaleGuarantees(_)
            | HarnessError::OrphanGoldens { .. } => exit::BAD_SCENARIOS,
            HarnessError::Docker(e) if e.is_unreachable() => exit::PREREQUISITE,
            HarnessError::Docker(_) => exit::HARNESS,
            HarnessError::Fixture(e) if e.is_prerequisite() => exit::PREREQUISITE,
            HarnessError::WorkDir(e) if e.is_refusal() => exit::PREREQUISITE,
            HarnessError::Fixture(_)
            | HarnessError::WorkDir(_)
            | HarnessError::Io { .. }
            | HarnessError::Input { .. } => exit::HARNESS,
            HarnessError::GoldenUpdateInCi | HarnessError::Usage(_) => exit::USAGE,
        }
    }
}

/// An error and its sources on one line: `what failed: why: the errno`.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

/// Prints the error chain once, on stderr, and gives the exit code.
pub fn report(error: &HarnessError) -> ExitCode {
    let mut text = format!("fsmatrix: error: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(&format!("\n  caused by: {cause_text}"));
        }
        source = cause.source();
    }
    eprintln!("{text}");
    ExitCode::from(error.exit_code())
}
