//! `switchyard status` and `switchyard plans`: read-only views of the recorded plans.

use std::process::ExitCode;

use crate::args::{Cli, PolicyName};
use crate::error::CliError;
use crate::report::{self, Warning};
use crate::session;

/// Every link of every recorded plan, oldest plan first. An unusable record is a warning: it
/// hides none of the others.
pub fn status(cli: &Cli) -> Result<ExitCode, CliError> {
    let engine = session::engine(cli, PolicyName::Permissive, false)?;
    let recorded = session::recorded(cli)?;
    let mut found = Vec::new();
    for (_, plan) in &recorded.plans {
        found.extend(engine.status(plan)?);
    }
    let warnings: Vec<Warning> = recorded
        .unusable
        .iter()
        .map(|(_, e)| Warning::from(e))
        .collect();
    report::status(cli, &found, &warnings)?;
    Ok(ExitCode::SUCCESS)
}

/// The recorded plans, oldest first, with how many of their links are switched now; then the
/// unusable records, each with why.
pub fn plans(cli: &Cli) -> Result<ExitCode, CliError> {
    let engine = session::engine(cli, PolicyName::Permissive, false)?;
    let recorded = session::recorded(cli)?;
    let mut rows = Vec::new();
    for (record, plan) in recorded.plans {
        let links = engine.status(&plan)?;
        rows.push((record, links));
    }
    report::plans(cli, &rows, &recorded.unusable)?;
    Ok(ExitCode::SUCCESS)
}
