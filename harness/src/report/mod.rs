//! Reporting: the event enum the runner emits, and the reporters built from it (terminal,
//! JUnit, JSON).

mod event;
pub mod json;
pub mod junit;
mod terminal;

pub use event::{CrashStates, Event, Failure, FailureKind, Outcome, Summary, TrialResult};
pub use terminal::TerminalReporter;
