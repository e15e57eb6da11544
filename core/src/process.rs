//! Running a program with a deadline, for rescue and smoke checks.

use std::fmt;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::sys;

/// How many of a failed program's last output lines its failure carries.
const TAIL_LINES: usize = 10;
/// How much of its output is kept to find them: a long last line is cut, not the memory blown.
const TAIL_BYTES: usize = 8192;

/// Why a checked program did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckFailure {
    /// What went wrong, in words: "exited with status 3", "still running after 500 ms; ...".
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

/// Runs `command` with no input, in a process group of its own, and waits at most `timeout`.
/// A program still running then is killed with its whole group (whatever it started in the
/// background with it). Its output (stdout and stderr, one pipe) is kept for the failure.
pub(crate) fn run_with_timeout(
    command: &mut Command,
    timeout: Duration,
) -> Result<(), CheckFailure> {
    let started = (|| {
        let (output, write_end) = sys::output_pipe()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(write_end.try_clone()?))
            .stderr(Stdio::from(write_end))
            .process_group(0)
            .spawn()?;
        Ok::<_, io::Error>((child, output))
    })();
    let mut tail = Tail::default();
    let (mut child, mut output) =
        started.map_err(|e| CheckFailure::from(format!("cannot start: {e}")))?;
    let deadline = Instant::now() + timeout;
    let ended = loop {
        tail.read_available(&mut output);
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                kill_group(&mut child);
                break Err(format!(
                    "still running after {} ms; it and its process group were killed",
                    timeout.as_millis()
                ));
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                kill_group(&mut child);
                break Err(format!("cannot wait for it: {e}"));
            }
        }
    };
    tail.read_available(&mut output);
    let (problem, exit_status) = match ended {
        Ok(status) if status.success() => return Ok(()),
        Ok(status) => (describe(status), status.code()),
        Err(problem) => (problem, None),
    };
    Err(CheckFailure {
        problem,
        exit_status,
        output_tail: tail.lines(),
    })
}

fn kill_group(child: &mut Child) {
    // The group's id is the child's pid (`process_group(0)`).
    let _ = sys::kill_process_group(child.id());
    let _ = child.wait();
}

fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => format!("ended by {status}"),
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
