//! Running a program with a deadline and keeping the tail of its output: what every health
//! check and rescue probe does, wherever its program runs.

use std::fmt;
use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::program::{Outcome, ProgramRun};
use crate::sys;

/// How many of a failed program's last output lines its failure carries.
const TAIL_LINES: usize = 10;
/// How much of its output is kept to find them: a long last line is cut, not the memory blown.
const TAIL_BYTES: usize = 8192;

/// Why a checked program did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckFailure {
    /// What went wrong, in words: "`usr/bin/ls --version` exited with status 3; expected it to
    /// exit with status 0".
    pub problem: String,
    /// The exit status, when the program exited by itself.
    pub exit_status: Option<i32>,
    /// The last lines it wrote, stdout and stderr together in the order written.
    pub output_tail: Vec<String>,
}

impl From<String> for CheckFailure {
    fn from(problem: String) -> Self {
        CheckFailure {
            problem,
            exit_status: None,
            output_tail: Vec::new(),
        }
    }
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem)?;
        if !self.output_tail.is_empty() {
            write!(f, "; last output: {}", self.output_tail.join(" | "))?;
        }
        Ok(())
    }
}

/// Runs `command` with no input, in a process group of its own, for at most `limit`, and tells
/// how it ended, with the last lines it wrote (stdout and stderr, one pipe). A program still
/// running then is killed with its whole group (whatever it started in the background with
/// it). For runners that prepare the command their own way.
pub fn run_command(mut command: Command, limit: Duration) -> ProgramRun {
    match Started::spawn(&mut command) {
        Ok(started) => started.watch(limit),
        Err(e) => ProgramRun::cannot_start(e.to_string()),
    }
}

/// A program started with no input, in a process group of its own, writing into one pipe.
pub(crate) struct Started {
    child: Child,
    output: std::fs::File,
}

impl Started {
    pub(crate) fn spawn(command: &mut Command) -> io::Result<Started> {
        let (output, write_end) = sys::output_pipe()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(write_end.try_clone()?))
            .stderr(Stdio::from(write_end))
            .process_group(0)
            .spawn()?;
        Ok(Started { child, output })
    }

    /// Waits at most `limit` for the program to end, keeping the tail of its output; a
    /// program still running then is killed with its whole group.
    pub(crate) fn watch(mut self, limit: Duration) -> ProgramRun {
        let mut tail = Tail::default();
        let deadline = Instant::now() + limit;
        let outcome = loop {
            tail.read_available(&mut self.output);
            match self.child.try_wait() {
                Ok(Some(status)) => break outcome(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                Ok(None) => {
                    kill_group(&mut self.child);
                    break Outcome::StillRunning;
                }
                Err(e) => {
                    kill_group(&mut self.child);
                    break Outcome::CannotStart(format!("cannot wait for it: {e}"));
                }
            }
        };
        tail.read_available(&mut self.output);
        ProgramRun {
            outcome,
            output_tail: tail.lines(),
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

/// The last bytes a program wrote.
#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
}

impl Tail {
    /// Reads what the pipe holds now, without waiting (the read end is non-blocking: a
    /// background process may keep the write end open long after the check ended).
    fn read_available(&mut self, output: &mut std::fs::File) {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = output.read(&mut chunk) {
            self.bytes.extend_from_slice(&chunk[..n]);
            if self.bytes.len() > TAIL_BYTES {
                self.bytes.drain(..self.bytes.len() - TAIL_BYTES);
            }
        }
    }

    fn lines(&self) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.bytes);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(TAIL_LINES)..]
            .iter()
            .map(|l| (*l).to_owned())
            .collect()
    }
}
