//! `switchyard apply`: links from the command line, a plan file or a package directory, checked
//! and (with --commit) switched; a commit's plan is recorded before its first change.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use switchyard::{
    ApplyMode, Decision, Fact, FactSink, HealthProfile, LinkRequest, Plan, SafePath, Stage,
};

use crate::args::{ApplyArgs, Checks, Cli, PolicyName};
use crate::chroot::ChrootRunner;
use crate::error::CliError;
use crate::paths::root_relative;
use crate::plan_file::PlanFile;
use crate::progress::{Progress, ProgressSink, ProgressSmoke};
use crate::recording::Recorder;
use crate::report::{self, Warning};
use crate::session;

/// Where `--from` looks for the names it links, in order.
const FROM_TARGET_DIRS: [&str; 2] = ["usr/bin", "usr/sbin"];

pub fn run(cli: &Cli, args: &ApplyArgs) -> Result<ExitCode, CliError> {
    let file = args.plan_file.as_deref().map(PlanFile::load).transpose()?;
    let mut links = Vec::new();
    for given in &args.links {
        links.push(parse_link(&cli.root, given)?);
    }
    let mut from_dirs = Vec::new();
    if let Some(dir) = &args.from {
        from_dirs.push(SafePath::new(&cli.root, root_relative(dir))?);
    }
    if let Some(file) = &file {
        links.extend(file.links(&cli.root)?);
        from_dirs.extend(file.from(&cli.root)?);
    }
    let mut left_out = Vec::new();
    for dir in &from_dirs {
        let found = from_dir(&cli.root, dir)?;
        links.extend(found.links);
        left_out.extend(found.left_out);
    }
    if links.is_empty() {
        return Err(CliError::NothingToApply);
    }
    let mut health = HealthProfile::coreutils();
    if let Some(file) = &file {
        health.by_target = file.health(&cli.root, &links)?;
    }
    let plan = Plan::links(links)?;

    let policy = cli
        .policy
        .or(file.as_ref().and_then(PlanFile::policy))
        .unwrap_or(PolicyName::Production);
    let mode = if args.commit {
        ApplyMode::Commit
    } else {
        ApplyMode::DryRun
    };
    let progress = Progress::new(plan.actions().len(), cli.json);
    // A dry run is given the lock too, though it never takes it: without one, the engine
    // would warn that a commit has no lock, which is not so.
    let mut engine = session::engine(cli, policy, true)?;
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
    let store = session::store(cli);
    let mut sink = ApplySink {
        trail: ProgressSink {
            inner: session::facts(cli)?,
            progress: progress.clone(),
        },
        recorder: args.commit.then(|| Recorder::new(&store, &plan)),
        would_fail: Vec::new(),
    };
    if !args.commit
        && let Err(e) = session::require_root("apply --commit")
    {
        sink.would_fail.push(Warning::from(&e));
    }
    let result = engine.apply(&plan, mode, &mut sink);
    progress.finish();
    let mut warnings = Vec::new();
    let result = match sink.recorder.take() {
        Some(recorder) => recorder.settle(
            &engine,
            &session::lock(cli),
            result,
            &mut sink.trail,
            &mut warnings,
        ),
        None => result.map_err(CliError::from),
    };
    let applied = match result {
        Ok(applied) => applied,
        Err(e) => {
            report::warn(&warnings);
            return Err(e);
        }
    };
    // A dry run ends as its commit would: with the first gate's code.
    let code = sink
        .would_fail
        .first()
        .map_or(ExitCode::SUCCESS, |w| ExitCode::from(w.class.exit_code()));
    warnings.extend(sink.would_fail);
    report::applied(cli, &applied, mode, &left_out, &warnings)?;
    Ok(code)
}

/// Where an apply's facts go: the audit trail and the progress line; a commit's recorder sees
/// each on the way, and a dry run's warnings of what its commit would fail are kept.
struct ApplySink<'a> {
    trail: ProgressSink,
    recorder: Option<Recorder<'a>>,
    would_fail: Vec<Warning>,
}

impl FactSink for ApplySink<'_> {
    fn record(&mut self, fact: &Fact) -> std::io::Result<()> {
        let written = self.trail.record(fact);
        if let Some(recorder) = &mut self.recorder {
            recorder.see(fact);
        }
        if fact.decision == Decision::Warn
            && fact.stage == Stage::Preflight
            && let Some(id) = fact.error_id
        {
            self.would_fail.push(Warning::would_fail(id));
        }
        written
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.trail.sync()
    }
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
        source: SafePath::new(root, root_relative(Path::new(source)))?,
        target: SafePath::new(root, root_relative(Path::new(target)))?,
    })
}

struct FromDir {
    links: Vec<LinkRequest>,
    /// Names of the directory found in none of the target directories.
    left_out: Vec<String>,
}

/// Every entry of `source_dir` whose name exists in usr/bin, or else usr/sbin, linked to that
/// name. Reading only: the engine checks every path again inside the root.
fn from_dir(root: &Path, source_dir: &SafePath) -> Result<FromDir, CliError> {
    let dir = source_dir.rel();
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
