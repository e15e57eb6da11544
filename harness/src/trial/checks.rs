//! The names of a trial's checks other than the crash invariants (which are named by their
//! transcript lines: `crash_window`, `durable`, ...). A failure lists the checks that failed
//! ([`crate::report::Failure::checks`]), so a report can say what caught the trouble.

/// A step's error id (or success) against the scenario's `expect`.
pub(crate) const RESULT: &str = "result";
/// The engine's report of a step that succeeded, against the tree it left.
pub(crate) const ANSWERS: &str = "answers";
/// A `check` step of the scenario.
pub(crate) const CHECK: &str = "check";
/// A plan the harness could not make from the scenario's step.
pub(crate) const PLAN: &str = "plan";
/// Nothing outside the scenario root changed.
pub(crate) const OUTSIDE_ROOT: &str = "outside_root";
/// The crash step reaches the crash points its probe run and the scenario name.
pub(crate) const CRASH_POINTS: &str = "crash_points";
/// A step child's system calls held to the watcher's rule.
pub(crate) const WATCHER: &str = "watcher";
