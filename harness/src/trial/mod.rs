//! A trial: one scenario on one filesystem, run in a child process of its own.

mod answers;
mod crash;
mod engine;
mod faults;
mod no_exchange;
mod outside;
mod run;
mod strays;
mod tree;

pub use crash::crash_child;
pub use faults::hold_lock_forever;
pub use outside::CANARY;
pub use run::{TrialReport, TrialRequest, run_trial};
pub use strays::adopt_orphans;
