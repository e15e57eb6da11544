//! Running a program of the managed tree and telling how it ended, for health checks.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::path::SafePath;
use crate::sys;

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

/// Runs a program of the managed tree. Health checks go through one, so a caller can choose
/// where and how the program runs. `Send + Sync`, like the engine that holds it.
pub trait ProgramRunner: Send + Sync {
    /// Runs `program` with `args`, no input and no output, for at most `limit`.
    fn run(&self, program: &SafePath, args: &[String], limit: Duration) -> Outcome;
}

/// Runs the program through its host path (`root/rel`), with the host's libraries: its link
/// resolves as the kernel sees it, so relative destinations (the default) work under any root
/// and absolute ones only when the root is the running system's `/`.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostRunner;

impl ProgramRunner for HostRunner {
    fn run(&self, program: &SafePath, args: &[String], limit: Duration) -> Outcome {
        let mut command = Command::new(program.host_path());
        command.args(args);
        run_command(command, limit)
    }
}

/// Runs `command` with no input or output, in a process group of its own, for at most `limit`,
/// and tells how it ended; a program still running then is killed with its whole group
/// (whatever it started in the background with it). For runners that prepare the command their
/// own way.
pub fn run_command(mut command: Command, limit: Duration) -> Outcome {
    let spawned = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return Outcome::CannotStart(e.to_string()),
    };
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return outcome(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                kill_group(&mut child);
                return Outcome::StillRunning;
            }
            Err(e) => {
                kill_group(&mut child);
                return Outcome::CannotStart(format!("cannot wait for it: {e}"));
            }
        }
    }
}

fn kill_group(child: &mut Child) {
    // The group's id is the child's pid (`process_group(0)`).
    let _ = sys::kill_process_group(child.id());
    let _ = child.wait();
}

fn outcome(status: ExitStatus) -> Outcome {
    match (status.code(), status.signal()) {
        (Some(code), _) => Outcome::Exited(code),
        (None, Some(signal)) => Outcome::Signaled(signal),
        (None, None) => Outcome::CannotStart(format!("it ended oddly: {status}")),
    }
}
