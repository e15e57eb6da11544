//! `switchyard rollback` and `switchyard prune`: recorded plans, by id or all of them.

use std::process::ExitCode;

use switchyard::{PruneReport, RollbackOptions, RollbackReport};
use uuid::Uuid;

use crate::args::{Cli, PolicyName, PruneArgs, RollbackArgs};
use crate::error::CliError;
use crate::progress::{Progress, ProgressSink};
use crate::report;
use crate::session;

/// Rolls back the requested plans, newest first, stopping at the first that fails.
pub fn rollback(cli: &Cli, args: &RollbackArgs) -> Result<ExitCode, CliError> {
    let plans = session::requested_plans(cli, &args.plans)?;
    let engine = session::engine(cli, policy(cli), true)?;
    let total = plans.iter().map(|p| p.actions().len()).sum();
    let progress = Progress::new(total, cli.json);
    let mut sink = ProgressSink {
        inner: session::facts(cli)?,
        progress: progress.clone(),
    };
    let mut done: Vec<(Uuid, RollbackReport)> = Vec::new();
    for plan in plans.iter().rev() {
        let result = engine.rollback(plan, RollbackOptions { force: args.force }, &mut sink);
        match result {
            Ok(r) => done.push((plan.id(), r)),
            Err(source) => {
                progress.finish();
                return Err(CliError::RollbackStopped {
                    plan: plan.id(),
                    done,
                    source,
                });
            }
        }
    }
    progress.finish();
    let mut tidied = None;
    if args.tidy {
        let mut removed = 0;
        for plan in &plans {
            removed += engine.tidy(plan, &mut sink)?.removed;
        }
        tidied = Some(removed);
    }
    report::rolled_back(cli, &done, tidied)?;
    Ok(ExitCode::SUCCESS)
}

/// Removes all but the newest `--keep` generations of each target of the requested plans.
pub fn prune(cli: &Cli, args: &PruneArgs) -> Result<ExitCode, CliError> {
    let plans = session::requested_plans(cli, &args.plans)?;
    let engine = session::engine(cli, policy(cli), true)?;
    let mut sink = session::facts(cli)?;
    let mut done: Vec<(Uuid, PruneReport)> = Vec::new();
    for plan in &plans {
        done.push((plan.id(), engine.prune(plan, args.keep, &mut *sink)?));
    }
    report::pruned(cli, &done)?;
    Ok(ExitCode::SUCCESS)
}

fn policy(cli: &Cli) -> PolicyName {
    cli.policy.unwrap_or(PolicyName::Production)
}
