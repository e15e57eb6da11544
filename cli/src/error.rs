//! The command's errors and their exit codes: the engine's table for the engine's errors, 2 for
//! a wrong command line or plan file.

use std::io;
use std::path::PathBuf;

use switchyard::ErrorId;

/// The exit status of a wrong command line or plan file (clap's own usage errors use it too).
pub const USAGE: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Engine(#[from] switchyard::Error),

    #[error("{file}:{line}:{column}: {message}")]
    PlanFile {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("cannot read the plan file `{file}`")]
    ReadPlanFile {
        file: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("`--link {given}`: {reason}")]
    BadLink { given: String, reason: &'static str },

    #[error("nothing to apply: give --link SOURCE=TARGET, --from DIR or --plan FILE")]
    NothingToApply,

    #[error("cannot list `{dir}` for --from")]
    ReadFrom {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("--from `{dir}`: none of its names exists in usr/bin or usr/sbin")]
    NothingInFrom { dir: PathBuf },

    #[error("cannot open the audit trail `{file}`")]
    Facts {
        file: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot create the lock's directory `{dir}`")]
    LockDir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("the root `{root}` cannot be entered for health checks: its path holds a NUL byte")]
    BadRoot { root: PathBuf },

    #[error("cannot write the output")]
    Output(#[source] io::Error),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        let id = match self {
            CliError::Engine(e) => e.id(),
            CliError::PlanFile { .. }
            | CliError::ReadPlanFile { .. }
            | CliError::BadLink { .. }
            | CliError::NothingToApply
            | CliError::ReadFrom { .. }
            | CliError::NothingInFrom { .. }
            | CliError::BadRoot { .. } => return USAGE,
            CliError::Facts { .. } | CliError::Output(_) => ErrorId::Audit,
            CliError::LockDir { .. } => ErrorId::Locking,
        };
        // Every id's code is below 256.
        u8::try_from(id.exit_code()).unwrap_or(1)
    }
}

/// The error and its sources on one line.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
