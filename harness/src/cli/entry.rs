//! Parse, dispatch, report: the one place errors become exit codes.

use std::process::ExitCode;

use clap::Parser;

use super::args::{self, Cli, Command};
use super::{children, clean, doctor, golden, image, run, source, trace};
use crate::error::{self, HarnessError, exit};

/// Parses the command line, runs the command, prints any error once, and maps it to the
/// documented exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::PASSED
            });
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => error::report(&e),
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode, HarnessError> {
    match cli.command {
        Command::Run(args) => run::run(&cli.work_dir, &args),
        Command::List(select) => source::list(&select),
        Command::Check(args) => source::check(&args),
        Command::Trace(args) => trace::trace(&args),
        Command::Golden(args::GoldenCommand::Update { select, exec }) => {
            golden::update(&cli.work_dir, &select, &exec)
        }
        Command::Doctor => doctor::doctor(),
        Command::Clean => clean::clean(&cli.work_dir),
        Command::Image(args::ImageCommand::Build(source)) => image::build(&source),
        Command::Image(args::ImageCommand::Bootstrap { force, mirror }) => {
            image::bootstrap(&cli.work_dir, force, &mirror)
        }
        Command::Trial { request, report } => children::trial(&request, &report),
        Command::Step { request } => children::step(&request),
        Command::HoldLock { lock } => children::hold_lock(&lock),
        #[cfg(feature = "defects")]
        Command::Defects(args) => super::defects::defects(&cli.work_dir, &args),
    }
}
