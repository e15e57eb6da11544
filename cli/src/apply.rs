//! `switchyard apply`: links from the command line, a plan file or a package directory, checked
//! and (with --commit) switched; committed plans are recorded first.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use switchyard::{ApplyMode, HealthProfile, LinkRequest, Plan, SafePath};

use crate::args::{ApplyArgs, Checks, Cli, PolicyName};
use crate::chroot::ChrootRunner;
use crate::error::CliError;
use crate::plan_file::PlanFile;
use crate::progress::{Progress, ProgressSink, ProgressSmoke};
use crate::report;
use crate::session;

/// Where `--from` looks for the names it links, in order.
const FROM_TARGET_DIRS: [&str; 2] = ["usr/bin", "usr/sbin"];

pub fn run(cli: &Cli, args: &ApplyArgs) -> Result<ExitCode, CliError> {
    let file = match &args.plan_file {
        Some(path) => PlanFile::load(path)?,
        None => PlanFile::default(),
    };
    let mut links = Vec::new();
    for given in &args.links {
        links.push(parse_link(&cli.root, given)?);
    }
    for link in &file.links {
        links.push(LinkRequest {
            source: SafePath::new(&cli.root, &link.source)?,
            target: SafePath::new(&cli.root, &link.target)?,
        });
    }
    let mut left_out = Vec::new();
    for dir in args.from.iter().chain(file.from.as_ref()) {
        let found = from_dir(&cli.root, dir)?;
        links.extend(found.links);
        left_out.extend(found.left_out);
    }
    if links.is_empty() {
        return Err(CliError::NothingToApply);
    }
    let plan = Plan::links(links)?;

    let policy = cli
        .policy
        .or(file.policy.map(PolicyName::from))
        .unwrap_or(PolicyName::Production);
    let mode = if args.commit {
        ApplyMode::Commit
    } else {
        ApplyMode::DryRun
    };
    let progress = Progress::new(plan.actions().len(), cli.json);
    let mut health = HealthProfile::coreutils();
    health.by_target = file.health;
    let mut engine = session::engine(cli, policy, args.commit)?;
    if checks_in_root(cli) {
        let runner = ChrootRunner::new(&cli.root).ok_or_else(|| CliError::BadRoot {
            root: cli.root.clone(),
        })?;
        health = health.with_runner(runner.clone());
        engine = engine.with_rescue_runner(runner);
    }
    let engine = engine.with_smoke(ProgressSmoke {
        inner: health,
        progress: progress.clone(),
    });
    if args.commit {
        session::store(cli).save(&plan)?;
    }
    let mut sink = ProgressSink {
        inner: session::facts(cli)?,
        progress: progress.clone(),
    };
    let result = engine.apply(&plan, mode, &mut sink);
    progress.finish();
    let applied = result?;
    report::applied(cli, &applied, mode, &left_out)?;
    Ok(ExitCode::SUCCESS)
}

/// Whether health checks and rescue probes enter the root (see `--checks`).
fn checks_in_root(cli: &Cli) -> bool {
    match cli.checks {
        Checks::Root => true,
        Checks::Host => false,
        Checks::Auto => {
            let is_slash = std::fs::canonicalize(&cli.root).is_ok_and(|r| r == Path::new("/"));
            !is_slash && ChrootRunner::fits(&cli.root)
        }
    }
}

fn parse_link(root: &Path, given: &str) -> Result<LinkRequest, CliError> {
    let bad = |reason| CliError::BadLink {
        given: given.to_owned(),
        reason,
    };
    let (source, target) = given
        .split_once('=')
        .ok_or_else(|| bad("expected SOURCE=TARGET"))?;
    if source.is_empty() || target.is_empty() {
        return Err(bad("both SOURCE and TARGET are needed"));
    }
    Ok(LinkRequest {
        source: SafePath::new(root, source)?,
        target: SafePath::new(root, target)?,
    })
}

struct FromDir {
    links: Vec<LinkRequest>,
    /// Names of the directory found in none of the target directories.
    left_out: Vec<String>,
}

/// Every entry of `dir` (relative to the root) whose name exists in usr/bin, or else usr/sbin,
/// linked to that name. Reading only: the engine checks every path again inside the root.
fn from_dir(root: &Path, dir: &Path) -> Result<FromDir, CliError> {
    let source_dir = SafePath::new(root, dir)?;
    let read_err = |source| CliError::ReadFrom {
        dir: dir.to_owned(),
        source,
    };
    let mut names: Vec<_> = std::fs::read_dir(source_dir.host_path())
        .map_err(read_err)?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    names.sort();
    let mut found = FromDir {
        links: Vec::new(),
        left_out: Vec::new(),
    };
    for name in names {
        let target = FROM_TARGET_DIRS
            .iter()
            .map(|d| PathBuf::from(d).join(&name))
            .find(|t| std::fs::symlink_metadata(root.join(t)).is_ok());
        match target {
            Some(target) => found.links.push(LinkRequest {
                source: SafePath::new(root, source_dir.rel().join(&name))?,
                target: SafePath::new(root, target)?,
            }),
            None => found.left_out.push(name.to_string_lossy().into_owned()),
        }
    }
    if found.links.is_empty() {
        return Err(CliError::NothingInFrom {
            dir: dir.to_owned(),
        });
    }
    Ok(found)
}
