//! What every command shares: the engine under the chosen policy, the audit trail, the plan
//! store, and the dispatch to the commands.

use std::process::ExitCode;
use std::time::Duration;

use switchyard::{FactSink, FileLock, JsonlSink, PlanStore, Policy, Switchyard};

use crate::args::{Cli, Command, PlanChoice, PolicyName};
use crate::error::CliError;

pub fn run(cli: &Cli) -> Result<ExitCode, CliError> {
    let root_is_dir = std::fs::metadata(&cli.root).and_then(|meta| {
        meta.is_dir()
            .then_some(())
            .ok_or_else(|| std::io::ErrorKind::NotADirectory.into())
    });
    root_is_dir.map_err(|source| CliError::NoRoot {
        root: cli.root.clone(),
        source,
    })?;
    // Up front, before a lock or a plan record is made: otherwise the first permission error
    // would surface from deep inside the engine, as whatever step met it.
    if let Some(command) = changes_the_tree(&cli.command)
        && !rustix::process::geteuid().is_root()
    {
        return Err(CliError::NotRoot { command });
    }
    match &cli.command {
        Command::Apply(args) => crate::apply::run(cli, args),
        Command::Rollback(args) => crate::rollback::rollback(cli, args),
        Command::Prune(args) => crate::rollback::prune(cli, args),
        Command::Status => crate::status::status(cli),
        Command::Plans => crate::status::plans(cli),
    }
}

/// The command as the user named it, when it changes the tree.
fn changes_the_tree(command: &Command) -> Option<&'static str> {
    match command {
        Command::Apply(args) if args.commit => Some("apply --commit"),
        Command::Rollback(_) => Some("rollback"),
        Command::Prune(_) => Some("prune"),
        Command::Apply(_) | Command::Status | Command::Plans => None,
    }
}

/// The state directory inside the root: plan records and the lock.
const STATE_DIR: &str = "var/lib/switchyard";

pub fn store(cli: &Cli) -> PlanStore {
    PlanStore::new(&cli.root)
}

/// The engine under `policy`; with the root's lock when `locked` (every mutating command).
pub fn engine(cli: &Cli, policy: PolicyName, locked: bool) -> Result<Switchyard, CliError> {
    let engine = Switchyard::new(match policy {
        PolicyName::Production => Policy::production(),
        PolicyName::Permissive => Policy::permissive(),
    });
    if !locked {
        return Ok(engine);
    }
    let dir = cli.root.join(STATE_DIR);
    std::fs::create_dir_all(&dir).map_err(|source| CliError::LockDir {
        dir: dir.clone(),
        source,
    })?;
    Ok(engine.with_lock(FileLock::new(
        dir.join("lock"),
        Duration::from_secs(cli.lock_wait),
    )))
}

/// The audit trail: appended to `--facts FILE`, or kept nowhere.
pub fn facts(cli: &Cli) -> Result<Box<dyn FactSink>, CliError> {
    match &cli.facts {
        Some(file) => Ok(Box::new(JsonlSink::append(file).map_err(|source| {
            CliError::Facts {
                file: file.clone(),
                source,
            }
        })?)),
        None => Ok(Box::new(Discard)),
    }
}

/// A sink for runs without `--facts`.
struct Discard;

impl FactSink for Discard {
    fn record(&mut self, _fact: &switchyard::Fact) -> std::io::Result<()> {
        Ok(())
    }
}

/// Prints `value` as the command's JSON document.
pub fn print_json(value: &serde_json::Value) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).map_err(|e| CliError::Output(e.into()))?;
    writeln!(out).map_err(CliError::Output)
}

/// The plans a `PLAN_ID | --all` request names, oldest first; an error when none matches.
pub fn requested_plans(cli: &Cli, choice: &PlanChoice) -> Result<Vec<switchyard::Plan>, CliError> {
    let store = store(cli);
    let records = match &choice.plan {
        Some(request) if !choice.all => vec![store.find(request)?],
        _ => store.list()?,
    };
    if records.is_empty() {
        return Err(switchyard::Error::UnknownPlan {
            request: "--all".to_owned(),
        }
        .into());
    }
    Ok(records
        .iter()
        .map(|r| store.plan(r))
        .collect::<Result<_, _>>()?)
}
