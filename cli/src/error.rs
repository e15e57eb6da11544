//! The command's errors and their exit codes: the engine's table for the engine's errors, 2 for
//! a wrong command line or plan file (or a command that changes the tree run as another user
//! than root), 141 for a closed stdout.

use std::io;
use std::path::PathBuf;

use switchyard::{ErrorId, RollbackReport};
use uuid::Uuid;

use crate::plan_file::At;

/// The exit status of a wrong command line or plan file (clap's own usage errors use it too).
pub const USAGE: u8 = 2;

/// The exit status when whoever read the output stopped reading (`switchyard status | head`):
/// 128 + SIGPIPE, what a shell reports for a program that signal ended, as `set -o pipefail`
/// scripts expect. The command itself ran to its end; only its report was cut.
pub const CLOSED_OUTPUT: u8 = 141;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Engine(#[from] switchyard::Error),

    #[error("{at}: {message}")]
    PlanFile { at: At, message: String },

    /// The engine refused a value of a plan file (a path); the id is the engine's.
    #[error("{at}")]
    InPlanFile {
        /// Boxed: beside the engine's error, the place would make every `Result` larger.
        at: Box<At>,
        #[source]
        source: switchyard::Error,
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

    #[error("the root `{root}` cannot be entered for health checks: its path holds a NUL byte")]
    BadRoot { root: PathBuf },

    #[error(
        "`{command}` must be run as root: it replaces files other users may own and restores \
         their owners (a dry run, status and plans need no privilege)"
    )]
    NotRoot { command: &'static str },

    #[error("cannot use the root `{root}`")]
    NoRoot {
        root: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot write the output")]
    Output(#[source] io::Error),

    /// `--all` met a record it cannot use: without it, that plan's place in the order is
    /// unknown.
    #[error(
        "--all needs every plan record; name the other plans by id, or move the damaged record away"
    )]
    UnusableRecord {
        #[source]
        source: switchyard::Error,
    },

    #[error("the plan could not be recorded, so its commit was rolled back")]
    NotRecorded {
        #[source]
        source: switchyard::Error,
    },

    #[error(
        "the plan could not be recorded ({record}), and rolling its commit back failed: it \
         stands, unrecorded"
    )]
    NotRecordedNorUndone {
        record: String,
        #[source]
        source: switchyard::Error,
    },

    /// `rollback` of several plans stopped at one; `done` are the plans rolled back before it.
    #[error("rolling back plan {plan} failed")]
    RollbackStopped {
        plan: Uuid,
        done: Vec<(Uuid, RollbackReport)>,
        #[source]
        source: switchyard::Error,
    },
}

/// What a failure is, for its exit status and its `id` in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A wrong command line or plan file: [`USAGE`].
    Usage,
    /// One of the engine's error ids.
    Id(ErrorId),
}

impl CliError {
    pub fn class(&self) -> Class {
        Class::Id(match self {
            CliError::Engine(e)
            | CliError::InPlanFile { source: e, .. }
            | CliError::NotRecorded { source: e }
            | CliError::UnusableRecord { source: e }
            | CliError::NotRecordedNorUndone { source: e, .. }
            | CliError::RollbackStopped { source: e, .. } => e.id(),
            CliError::PlanFile { .. }
            | CliError::ReadPlanFile { .. }
            | CliError::BadLink { .. }
            | CliError::NothingToApply
            | CliError::ReadFrom { .. }
            | CliError::NothingInFrom { .. }
            | CliError::BadRoot { .. }
            | CliError::NoRoot { .. }
            | CliError::NotRoot { .. } => return Class::Usage,
            CliError::Facts { .. } | CliError::Output(_) => ErrorId::Audit,
        })
    }

    /// Whether the reader of stdout went away (`EPIPE`): a quiet [`CLOSED_OUTPUT`], no message.
    pub fn is_closed_output(&self) -> bool {
        matches!(self, CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl Class {
    pub fn exit_code(self) -> u8 {
        match self {
            Class::Usage => USAGE,
            // Every id's code is below 256.
            Class::Id(id) => u8::try_from(id.exit_code()).unwrap_or(1),
        }
    }

    /// The `id` of a JSON error object: the engine's id, or `E_USAGE` for the command's own.
    pub fn name(self) -> &'static str {
        match self {
            Class::Usage => "E_USAGE",
            Class::Id(id) => id.as_str(),
        }
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
