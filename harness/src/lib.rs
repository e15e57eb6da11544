//! fsmatrix: certifies the switchyard engine on real filesystems.
//!
//! Data flows one way: [`scenario::load_dir`] → [`matrix::expand`] → [`runner::run`] (each
//! trial a child process running [`trial::run_trial`] through the engine) → [`transcript`] →
//! [`golden::compare`] → [`report`] → exit code ([`error`]).
//!
//! Beside the flow, [`trace`] joins the requirements file with the scenarios' `proves:` lists and
//! the tests' `/// Proves:` lines into the guarantees table (`docs/guarantees.md`).

pub mod blocklog;
pub mod cli;
#[cfg(feature = "defects")]
pub mod defects;
pub mod docker;
pub mod error;
pub mod fixture;
pub mod fs_kind;
pub mod golden;
pub mod input;
pub mod matrix;
pub mod procfs;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod signal;
pub mod system;
pub mod trace;
pub mod transcript;
pub mod trial;
pub mod trial_children;
pub mod workdir;
