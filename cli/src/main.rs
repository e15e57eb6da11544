//! The `switchyard` command: argument parsing here, one module per command.

mod apply;
mod args;
mod chroot;
mod error;
mod paths;
mod plan_file;
mod progress;
mod recording;
mod report;
mod rollback;
mod session;
mod status;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match session::run(&cli) {
        Ok(code) => code,
        Err(e) => report::failure(&cli, &e),
    }
}
