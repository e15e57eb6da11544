//! The hidden subcommands `fsmatrix` runs itself as: a trial, an engine step, a lock holder.

use std::path::Path;
use std::process::ExitCode;

use crate::error::HarnessError;
use crate::trial::{self, TrialRequest};

/// A helper process must not outlive the process that started it: if `fsmatrix run` is killed
/// with SIGKILL, its trials die too, leaving only fixtures that `fsmatrix clean` reclaims (and
/// no orphan that keeps mounting behind the sweep).
fn die_with_parent() {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
}

/// `__trial REQUEST REPORT`: run one trial and write its report. Exits 0 whenever the report
/// is written; the trial's own verdict is in it.
pub(super) fn trial(request: &Path, report: &Path) -> Result<ExitCode, HarnessError> {
    die_with_parent();
    // What the trial's health checks leave in the background stays findable as ours.
    trial::adopt_orphans().map_err(|source| HarnessError::Io {
        what: "become the reaper of",
        path: "the trial's orphans".into(),
        source,
    })?;
    let io = |what, path: &Path| {
        let path = path.to_owned();
        move |source| HarnessError::Io { what, path, source }
    };
    let text = std::fs::read_to_string(request).map_err(io("read the trial request", request))?;
    let req: TrialRequest = serde_json::from_str(&text).map_err(|e| {
        HarnessError::Usage(format!("bad trial request {}: {e}", request.display()))
    })?;
    let outcome = trial::run_trial(&req);
    let json = serde_json::to_vec(&outcome).map_err(|e| HarnessError::Usage(e.to_string()))?;
    std::fs::write(report, json).map_err(io("write the trial report", report))?;
    Ok(ExitCode::SUCCESS)
}

/// `__step REQUEST`: run one engine step of a trial, stopping at a crash point if asked (then the
/// harness kills it there).
pub(super) fn step(request: &Path) -> Result<ExitCode, HarnessError> {
    die_with_parent();
    match trial::step_child(request) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(message) => {
            eprintln!("fsmatrix __step: {message}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `__hold-lock FILE`: hold the engine's lock until killed.
pub(super) fn hold_lock(lock: &Path) -> Result<ExitCode, HarnessError> {
    die_with_parent();
    trial::hold_lock_forever(lock).map_err(|source| HarnessError::Io {
        what: "hold the lock",
        path: lock.to_owned(),
        source,
    })?;
    Ok(ExitCode::SUCCESS)
}
