//! A trial: one scenario on one filesystem, run in a child process of its own.

mod crash;
mod engine;
mod faults;
mod run;
mod step;
mod tree;
mod watch;
mod window;

pub use faults::hold_lock_forever;
pub use run::{TrialReport, TrialRequest, run_trial};
pub use step::{StepRequest, step_child};
