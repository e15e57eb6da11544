//! A trial: one scenario on one filesystem, run in a child process of its own.

mod answers;
mod checks;
mod crash;
mod crash_state;
mod engine;
mod faults;
mod outside;
mod recorded;
mod run;
mod step;
mod strays;
mod tree;
mod unsupported;
mod verdicts;
mod watch;
mod window;

pub use faults::hold_lock_forever;
pub use outside::CANARY;
pub use run::{TrialReport, TrialRequest, run_trial};
pub use step::{StepRequest, step_child};
pub use strays::adopt_orphans;
pub(crate) use strays::{child_of, kill_in_rounds};
