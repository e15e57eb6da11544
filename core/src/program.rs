//! Running a program of the managed tree and telling how it ended, for health checks and the
//! rescue probe.

use std::process::Command;
use std::time::Duration;

use crate::path::SafePath;
use crate::process::run_command;

/// How a program run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It exited on its own with this status code.
    Exited(i32),
    /// A signal ended it (a crash: `SIGSEGV`, `SIGILL`, `SIGABRT`, ...).
    Signaled(i32),
    /// It was still running when its time was up, and was killed.
    StillRunning,
    /// It could not be started at all (not executable, bad format, missing interpreter).
    CannotStart(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Exited(code) => write!(f, "exited with status {code}"),
            Outcome::Signaled(signal) => write!(f, "was killed by signal {signal}"),
            Outcome::StillRunning => f.write_str("was still running when its time was up"),
            Outcome::CannotStart(why) => write!(f, "cannot be started: {why}"),
        }
    }
}

/// How a program run ended, and the last lines it wrote: a broken program's own words (the
/// loader's "error while loading shared libraries: ...") are the diagnosis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramRun {
    pub outcome: Outcome,
    /// Its last lines of output, stdout and stderr together in the order written.
    pub output_tail: Vec<String>,
}

impl ProgramRun {
    pub(crate) fn cannot_start(why: String) -> ProgramRun {
        ProgramRun {
            outcome: Outcome::CannotStart(why),
            output_tail: Vec::new(),
        }
    }
}

/// Runs a program of the managed tree. Health checks and the rescue probe go through one, so a
/// caller can choose where and how the program runs. `Send + Sync`, like the engine that holds
/// it.
pub trait ProgramRunner: Send + Sync {
    /// Runs `program` with `args` and no input, for at most `limit`; tells how it ended, with
    /// the tail of its output.
    fn run(&self, program: &SafePath, args: &[String], limit: Duration) -> ProgramRun;
}

/// Runs the program through its host path (`root/rel`), with the host's libraries: its link
/// resolves as the kernel sees it, so relative destinations (the default) work under any root
/// and absolute ones only when the root is the running system's `/`.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostRunner;

impl ProgramRunner for HostRunner {
    fn run(&self, program: &SafePath, args: &[String], limit: Duration) -> ProgramRun {
        let mut command = Command::new(program.host_path());
        command.args(args);
        run_command(command, limit)
    }
}
