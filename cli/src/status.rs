//! `switchyard status` and `switchyard plans`: read-only views of the recorded plans.

use std::process::ExitCode;

use crate::args::{Cli, PolicyName};
use crate::error::CliError;
use crate::report;
use crate::session;

/// Every link of every recorded plan, oldest plan first.
pub fn status(cli: &Cli) -> Result<ExitCode, CliError> {
    let engine = session::engine(cli, PolicyName::Permissive, false)?;
    let store = session::store(cli);
    let mut found = Vec::new();
    for record in store.list()? {
        found.extend(engine.status(&store.plan(&record)?)?);
    }
    report::status(cli, &found)?;
    Ok(ExitCode::SUCCESS)
}

/// The recorded plans, oldest first, with how many of their links are switched now.
pub fn plans(cli: &Cli) -> Result<ExitCode, CliError> {
    let engine = session::engine(cli, PolicyName::Permissive, false)?;
    let store = session::store(cli);
    let mut rows = Vec::new();
    for record in store.list()? {
        let links = engine.status(&store.plan(&record)?)?;
        rows.push((record, links));
    }
    report::plans(cli, &rows)?;
    Ok(ExitCode::SUCCESS)
}
