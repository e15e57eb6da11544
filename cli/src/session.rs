//! What every command shares: the engine under the chosen policy, the audit trail, the plan
//! store, and the dispatch to the commands.

use std::process::ExitCode;
use std::time::Duration;

use switchyard::{FactSink, FileLock, JsonlSink, Plan, PlanRecord, PlanStore, Policy, Switchyard};
use uuid::Uuid;

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
    if let Some(command) = changes_the_tree(&cli.command) {
        require_root(command)?;
    }
    match &cli.command {
        Command::Apply(args) => crate::apply::run(cli, args),
        Command::Rollback(args) => crate::rollback::rollback(cli, args),
        Command::Prune(args) => crate::rollback::prune(cli, args),
        Command::Status => crate::status::status(cli),
        Command::Plans => crate::status::plans(cli),
    }
}

/// Refuses `command` unless this process runs as root.
pub fn require_root(command: &'static str) -> Result<(), CliError> {
    if rustix::process::geteuid().is_root() {
        Ok(())
    } else {
        Err(CliError::NotRoot { command })
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

/// The root's lock, inside the root beside its plan records (`switchyard::PLANS_DIR`), made
/// there when first taken.
const LOCK_FILE: &str = "var/lib/switchyard/lock";

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
    Ok(engine.with_lock(lock(cli)))
}

/// The root's lock, as every mutating command takes it.
pub fn lock(cli: &Cli) -> FileLock {
    FileLock::in_root(&cli.root, LOCK_FILE, Duration::from_secs(cli.lock_wait))
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

/// The root's recorded plans: the usable ones in commit order (oldest first), and the others
/// with why each cannot be used.
pub struct Recorded {
    pub plans: Vec<(PlanRecord, Plan)>,
    pub unusable: Vec<(Uuid, switchyard::Error)>,
}

pub fn recorded(cli: &Cli) -> Result<Recorded, CliError> {
    let store = store(cli);
    let listed = store.list()?;
    let mut recorded = Recorded {
        plans: Vec::new(),
        unusable: listed.unreadable,
    };
    for record in listed.records {
        match store.plan(&record) {
            Ok(plan) => recorded.plans.push((record, plan)),
            Err(e) => recorded.unusable.push((record.plan_id, e)),
        }
    }
    Ok(recorded)
}

/// The plans a `PLAN_ID | --all` request names, oldest first; an error when none matches, or
/// when one it needs is unusable (`--all` needs them all: without a record, its place in the
/// order is unknown).
pub fn requested_plans(cli: &Cli, choice: &PlanChoice) -> Result<Vec<Plan>, CliError> {
    if let Some(request) = choice.plan.as_deref().filter(|_| !choice.all) {
        let store = store(cli);
        return Ok(vec![store.plan(&store.find(request)?)?]);
    }
    let recorded = recorded(cli)?;
    if let Some((_, source)) = recorded.unusable.into_iter().next() {
        return Err(CliError::UnusableRecord { source });
    }
    if recorded.plans.is_empty() {
        return Err(switchyard::Error::UnknownPlan {
            request: "--all".to_owned(),
        }
        .into());
    }
    Ok(recorded.plans.into_iter().map(|(_, plan)| plan).collect())
}
