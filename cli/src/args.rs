//! What the user typed: checked for shape only (no file is read and no syscall made here).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  # What switching a root's coreutils to uutils would do (dry run: nothing changes)
  switchyard --root /srv/bookworm apply --from usr/lib/cargo/bin/coreutils

  # Do it, with the audit trail in a file
  switchyard --root /srv/bookworm --facts /var/log/switchyard.jsonl apply --commit \\
      --from usr/lib/cargo/bin/coreutils

  # One link, on the running system
  switchyard apply --commit --link usr/lib/cargo/bin/coreutils/ls=usr/bin/ls

  # What is switched, by which plan
  switchyard --root /srv/bookworm status

  # Put everything back, newest plan first; or one plan by its id (a unique prefix will do)
  switchyard --root /srv/bookworm rollback --all
  switchyard --root /srv/bookworm rollback 3f2a91c0

Exit status:
  0    success (a dry run that would succeed, a rollback with nothing left to do); a dry run
       whose commit would fail warns why on stderr (`warnings` with --json) and exits with
       the status the commit would
  2    the command line or a plan file is wrong, or a command that changes the tree was run
       by a user other than root (E_USAGE)
  10-130  the engine's error ids: E_POLICY 10, E_OWNERSHIP 20, E_LOCKING 30,
       E_ATOMIC_SWAP 40, E_EXDEV 50, E_BACKUP_MISSING 60, E_RESTORE_FAILED 70, E_SMOKE 80,
       E_DRIFT 90, E_RESCUE 100, E_NO_SPACE 110, E_READ_ONLY 120, E_AUDIT 130
  141  stdout was closed before the report was written (`| head`); the command itself ran
       to its end
With --json, a failure also prints {\"error\": {\"id\", \"exit_code\", \"message\"}} on stdout.";

/// Replace files with symlinks and roll back exactly: switch a root's tools (GNU coreutils to
/// uutils) and back, atomically, durably, with an audit trail.
///
/// Paths in links and plan files are relative to the root; a leading / is the root's own (as
/// with `dpkg --root`). Committed plans are recorded in the root's var/lib/switchyard/plans, so
/// rollback and status need only a plan id.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, after_help = EXAMPLES)]
pub struct Cli {
    /// The root of the managed tree.
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// Machine-readable output: one JSON document on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// Append the audit trail (JSONL facts) to this file.
    #[arg(long, global = true, value_name = "FILE")]
    pub facts: Option<PathBuf>,

    /// Safeguards: `production` (the default, unless a plan file says otherwise) needs the
    /// lock, a rescue toolset outside the plan and passing health checks; `permissive` only
    /// runs the checks it is given.
    #[arg(long, global = true, value_enum)]
    pub policy: Option<PolicyName>,

    /// How long to wait for another switchyard holding the root's lock, in seconds.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 10)]
    pub lock_wait: u64,

    /// Where health checks and the rescue toolset's probes run: `root` enters the root (chroot,
    /// with a /proc, a read-only /sys and a minimal /dev of the check's own) so its own
    /// libraries are used; `host` runs the root's own program (found inside the root: an
    /// absolute link leads to the root's file) with the host's libraries; `auto` is `root` when
    /// --root is not / and has a shell of its own, else `host`.
    #[arg(long, global = true, value_enum, default_value_t = Checks::Auto)]
    pub checks: Checks,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Checks {
    Auto,
    Root,
    Host,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyName {
    Production,
    Permissive,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replace targets with links to sources: a dry run unless --commit.
    #[command(after_help = "Example:\n  \
        switchyard --root /srv/bookworm apply --commit --from usr/lib/cargo/bin/coreutils")]
    Apply(ApplyArgs),
    /// Put back what recorded plans replaced, newest plan first.
    #[command(after_help = "Example:\n  switchyard --root /srv/bookworm rollback --all --tidy")]
    Rollback(RollbackArgs),
    /// Every link of every recorded plan: switched, rolled back, drifted...
    #[command(after_help = "Example:\n  switchyard --root /srv/bookworm --json status")]
    Status,
    /// Remove old backup generations of recorded plans.
    #[command(after_help = "Example:\n  switchyard --root /srv/bookworm prune --all --keep 2")]
    Prune(PruneArgs),
    /// The recorded plans, oldest first.
    #[command(after_help = "Example:\n  switchyard --root /srv/bookworm plans")]
    Plans,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Change the tree; without it, report what would happen and change nothing.
    #[arg(long)]
    pub commit: bool,

    /// Replace TARGET with a link to SOURCE (both relative to the root); repeatable.
    #[arg(long = "link", value_name = "SOURCE=TARGET")]
    pub links: Vec<String>,

    /// Link every file of DIR (relative to the root) whose name exists in usr/bin (or else in
    /// usr/sbin) to that name; names in neither are left out and listed.
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,

    /// A plan file (YAML, or JSON when named *.json): links, health-check overrides, policy.
    #[arg(long = "plan", value_name = "FILE")]
    pub plan_file: Option<PathBuf>,
}

/// Which recorded plans a command works on: one by id, or all of them.
#[derive(Debug, Args)]
pub struct PlanChoice {
    /// The plan: its id or a unique prefix of it.
    #[arg(
        value_name = "PLAN_ID",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub plan: Option<String>,

    /// Every recorded plan.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub plans: PlanChoice,

    /// Replace targets someone else changed since the swap (drift) instead of refusing; leave a
    /// plan's link that has no record of the plan's change to it (E_BACKUP_MISSING).
    #[arg(long)]
    pub force: bool,

    /// Then remove the sidecars of every target that is back to what it was, so its directory
    /// gets its original listing, and the records of the plans nothing is left of.
    #[arg(long)]
    pub tidy: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub plans: PlanChoice,

    /// Generations to keep of each target (at least one).
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    pub keep: usize,
}

/// A count of one or more: keeping no generation would drop backups a rollback may need.
fn at_least_one(given: &str) -> Result<usize, String> {
    match given.parse::<usize>() {
        Ok(0) => Err("keep at least one generation".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}
