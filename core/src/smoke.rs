//! Health checks after a commit: each swapped target must still run.

use std::process::Command;
use std::time::Duration;

use crate::path::SafePath;
use crate::process::{CheckFailure, run_with_timeout};

/// Checks one swapped target. A failure makes the engine roll the whole apply back (unless
/// policy turns automatic rollback off) and fail with `E_SMOKE`.
///
/// `Send + Sync`, so that an engine holding a runner can be shared between threads.
pub trait SmokeRunner: Send + Sync {
    /// `Err` carries what went wrong (with the program's exit status and last output, where
    /// there is one), for the fact and the error.
    fn check(&self, target: &SafePath) -> Result<(), CheckFailure>;
}

/// Runs the target with `args` (default `--version`) and expects exit status 0 within `timeout`.
/// A check still running then is killed with its whole process group.
///
/// The target is run through its host path, so its link resolves as the kernel sees it:
/// relative destinations (the default) work under any root; absolute ones only when the root is
/// the running system's `/`.
#[derive(Clone, Debug)]
pub struct CommandSmoke {
    pub args: Vec<String>,
    pub timeout: Duration,
}

impl Default for CommandSmoke {
    fn default() -> Self {
        CommandSmoke {
            args: vec!["--version".to_owned()],
            timeout: Duration::from_secs(10),
        }
    }
}

impl SmokeRunner for CommandSmoke {
    fn check(&self, target: &SafePath) -> Result<(), CheckFailure> {
        run_with_timeout(
            Command::new(target.host_path()).args(&self.args),
            self.timeout,
        )
    }
}
