//! The `fsmatrix` command line: argument parsing, then one module per command.

mod args;
mod children;
mod ci;
mod clean;
#[cfg(feature = "defects")]
mod defects;
mod doctor;
mod entry;
mod golden;
mod image;
mod out;
mod reports;
mod run;
mod session;
mod source;
mod trace;

pub use args::{Cli, Command, SourceArgs};
pub use entry::main;
