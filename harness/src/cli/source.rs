//! Loading and selecting scenarios: `list` and `check`, and the selection every run makes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::args::{CheckArgs, SelectArgs};
use super::out::outln;
use crate::error::HarnessError;
use crate::fs_kind::FsKind;
use crate::golden;
use crate::matrix::{self, Matrix, NameFilter};
use crate::scenario::{self, Scenario};
use crate::trace::{self, Requirements, TraceErrors};

/// The scenarios and the trials a command works on.
#[derive(Debug)]
pub(super) struct Selection {
    pub(super) scenarios: Vec<Scenario>,
    pub(super) matrix: Matrix,
}

impl Selection {
    pub(super) fn files(&self) -> BTreeMap<String, PathBuf> {
        self.scenarios
            .iter()
            .map(|s| (s.name.clone(), s.file.clone()))
            .collect()
    }
}

/// Loads every scenario (all errors at once, before any trial starts) and expands the matrix.
pub(super) fn select(args: &SelectArgs) -> Result<Selection, HarnessError> {
    let scenarios = scenario::load_dir(&args.source.scenarios)?;
    let run: Vec<FsKind> = if args.fs.is_empty() {
        FsKind::ALL.to_vec()
    } else {
        args.fs.clone()
    };
    let mut matrix = matrix::expand(&scenarios, &run, &NameFilter(args.filters.clone()));
    if matrix.trials.is_empty() {
        return Err(HarnessError::Usage(
            "no trial matches the selection (check the filters and --fs)".to_owned(),
        ));
    }
    // A shard may be empty (more shards than trials); the selection as a whole may not.
    if let Some(partition) = args.partition {
        matrix.trials = partition.select(matrix.trials);
    }
    Ok(Selection { scenarios, matrix })
}

pub(super) fn list(args: &SelectArgs) -> Result<ExitCode, HarnessError> {
    let selection = select(args)?;
    for trial in &selection.matrix.trials {
        outln!("{trial}");
    }
    for scope in &selection.matrix.scopes {
        let fs: Vec<&str> = scope.filesystems.iter().map(|f| f.as_str()).collect();
        eprintln!(
            "scope: {} runs on {} only: {}",
            scope.scenario,
            fs.join(", "),
            scope.why
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn check(args: &CheckArgs) -> Result<ExitCode, HarnessError> {
    let scenarios = scenario::load_dir(&args.source.scenarios)?;
    let requirements = Requirements::load(&args.requirements)?;
    let unknown = trace::unknown_scenario_ids(&requirements, &scenarios);
    if !unknown.is_empty() {
        return Err(TraceErrors(unknown).into());
    }
    no_orphans(&scenarios, &args.source.golden)?;
    outln!(
        "{} scenarios in {} are valid",
        scenarios.len(),
        args.source.scenarios.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Fails when a golden file names no scenario: a renamed or deleted scenario leaves one behind,
/// and a stale golden must not sit there unnoticed.
pub(super) fn no_orphans(scenarios: &[Scenario], golden_dir: &Path) -> Result<(), HarnessError> {
    let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
    let files = golden::orphans(golden_dir, &names).map_err(|source| HarnessError::Io {
        what: "read the golden directory",
        path: golden_dir.to_owned(),
        source,
    })?;
    if files.is_empty() {
        return Ok(());
    }
    Err(HarnessError::OrphanGoldens {
        dir: golden_dir.to_owned(),
        files,
    })
}
