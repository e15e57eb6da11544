//! Health checks after a commit: each swapped target must still run.

use std::time::Duration;

use crate::health_profile::{Expect, HealthCheck};
use crate::path::SafePath;
use crate::process::CheckFailure;
use crate::program::HostRunner;

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
/// The target is the root's own program, run on the host ([`HostRunner`]): resolved inside the
/// root, so an absolute link in the root leads to the root's file, and run with the host's
/// libraries and interpreters.
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
        let check = HealthCheck {
            args: self.args.clone(),
            expect: Expect::Exit(vec![0]),
        };
        check.run(&HostRunner, target, self.timeout)
    }
}
