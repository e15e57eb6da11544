//! `switchyard rollback` and `switchyard prune`: recorded plans, by id or all of them.

use std::process::ExitCode;

use switchyard::{PruneReport, RollbackOptions, RollbackReport};
use uuid::Uuid;

use crate::args::{Cli, PolicyName, PruneArgs, RollbackArgs};
use crate::error::CliError;
use crate::progress::{Progress, ProgressSink};
use crate::recording::forget_if_gone;
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
        let mut tidy = Tidied::default();
        for plan in &plans {
            tidy.removed += engine.tidy(plan, &mut sink)?.removed;
        }
        // Under the lock, so no commit of these plans comes between the look and the removal.
        let _held = session::lock(cli).acquire()?;
        let store = session::store(cli);
        for plan in &plans {
            if forget_if_gone(&store, &engine, plan)? {
                tidy.forgotten.push(plan.id());
            }
        }
        tidied = Some(tidy);
    }
    report::rolled_back(cli, &done, tidied.as_ref())?;
    Ok(ExitCode::SUCCESS)
}

/// What `rollback --tidy` removed.
#[derive(Debug, Default)]
pub struct Tidied {
    /// Generations whose sidecars were removed, over all targets.
    pub removed: usize,
    /// Plans nothing was left of, whose records went too.
    pub forgotten: Vec<Uuid>,
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
