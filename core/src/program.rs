//! Running a program of the managed tree and telling how it ended, for health checks and the
//! rescue probe.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::path::SafePath;
use crate::process::Started;
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

/// Runs the root's own program on the host. The program is resolved inside its root
/// (`openat2(RESOLVE_IN_ROOT)`, as the engine resolves every path): each link on the way,
/// absolute or relative, leads to the root's own file, as if the root were `/`, never to the
/// host's. That file is then executed from its descriptor, with the host's loader, libraries
/// and `#!` interpreters and the caller's environment.
///
/// The program is told the target's path inside the root as its name (`argv[0]` is
/// `/usr/bin/ls`), so a multicall binary (BusyBox, uutils' `coreutils`) picks the right tool. A
/// `#!` script reads itself from `/proc/self/fd/N`, which is also its `$0`.
///
/// This fits a root that is no system to enter (a tree of a few programs without a shell) and
/// the running system's `/`. A root of another release needs its own libraries: its checks
/// belong inside it (the `switchyard` command's chroot runner).
#[derive(Clone, Copy, Debug, Default)]
pub struct HostRunner;

impl ProgramRunner for HostRunner {
    fn run(&self, program: &SafePath, args: &[String], limit: Duration) -> ProgramRun {
        // Without a `pre_exec` hook (say, to keep a close-on-exec descriptor open in the
        // child), the program is spawned with `posix_spawn`, which executes only what the
        // kernel can: a fork and `execvp` would hand a file the kernel refuses (a broken
        // binary) to `/bin/sh`.
        let file = match open_in_root(program) {
            Ok(file) => file,
            Err(e) => {
                return ProgramRun::cannot_start(format!("cannot open it inside the root: {e}"));
            }
        };
        let mut command = Command::new(sys::exec_path(file.as_fd()));
        command.arg0(Path::new("/").join(program.rel())).args(args);
        let started = Started::spawn(&mut command);
        // Started: the program has its own copy of the descriptor; the caller's goes, before
        // any other child of a threaded caller can inherit it.
        drop(file);
        match started {
            Ok(started) => started.watch(limit),
            Err(e) => ProgramRun::cannot_start(e.to_string()),
        }
    }
}

/// The object `program` finally is, resolved inside its root; inherited by the child, and
/// closed once it has started.
fn open_in_root(program: &SafePath) -> std::io::Result<OwnedFd> {
    let root = sys::open_dir(program.root())?;
    sys::open_program_in(root.as_fd(), program.rel())
}
