//! Reading scenario files: one file, or every scenario of a directory. The only I/O of the
//! scenario module.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use super::entry::NAME_MAX;
use super::error::{Position, Problem, ScenarioError, ScenarioErrors};
use super::model::Scenario;
use super::{parse, validate};
use crate::fs_kind::FsKind;
use crate::input::{self, ReadError};

/// The largest scenario file read: scenarios are small, and a file that is not one (a device,
/// a runaway generator) must not be read into memory whole.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Reads, parses and validates one scenario file. Its name is the file stem.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let fail = |problem| ScenarioError::new(path, problem);
    let name = name_of(path).map_err(fail)?;
    let bytes = read_regular(path).map_err(fail)?;
    let text = utf8(bytes).map_err(fail)?;
    let raw = parse::parse(&text).map_err(fail)?;
    validate::scenario(&raw, name, path, &text).map_err(fail)
}

/// Loads every `*.yaml` and `*.yml` file of `dir` (not its subdirectories; hidden files are
/// left alone), sorted by scenario name. Reports the problems of every file, not just the first;
/// a directory without any is a problem too.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioErrors> {
    let files = scenario_files(dir).map_err(|e| ScenarioErrors::new(vec![e]))?;
    if files.is_empty() {
        return Err(ScenarioErrors::new(vec![ScenarioError::new(
            dir,
            Problem::whole_file(
                "no scenario files (*.yaml, *.yml) in this directory: nothing to check or run",
            ),
        )]));
    }
    let mut scenarios = Vec::new();
    let mut errors = Vec::new();
    let mut names: BTreeMap<&OsStr, &Path> = BTreeMap::new();
    for file in &files {
        let stem = file.file_stem().unwrap_or_default();
        if let Some(first) = names.get(stem) {
            errors.push(ScenarioError::new(
                file,
                Problem::whole_file(format!(
                    "scenario `{}` is already defined by {}",
                    stem.display(),
                    first.display()
                )),
            ));
            continue;
        }
        names.insert(stem, file);
        match load_file(file) {
            Ok(scenario) => scenarios.push(scenario),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(ScenarioErrors::new(errors))
    }
}

/// The scenario files of `dir`, by stem and then by file name.
fn scenario_files(dir: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let unreadable = |e: std::io::Error| {
        ScenarioError::new(
            dir,
            Problem::whole_file(format!("cannot read the scenario directory: {e}")),
        )
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        let hidden = path
            .file_name()
            .is_some_and(|name| name.as_encoded_bytes().starts_with(b"."));
        let yaml = path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml");
        if yaml && !hidden {
            files.push(path);
        }
    }
    files.sort_by(|a, b| (a.file_stem(), a.file_name()).cmp(&(b.file_stem(), b.file_name())));
    Ok(files)
}

/// The longest scenario name whose trial files fit in a file name: the kept transcript
/// `NAME.FS.jsonl.bad` is the longest of them (the trial directory `NAME@FS` and the golden
/// file's temporary `.NAME.jsonl.tmp` are shorter).
fn max_name_bytes() -> usize {
    let fs = FsKind::ALL
        .iter()
        .map(|kind| kind.as_str().len())
        .max()
        .unwrap_or(0);
    NAME_MAX - ".".len() - fs - ".jsonl.bad".len()
}

/// The bytes of the scenario file, through the reader every input file goes through.
fn read_regular(path: &Path) -> Result<Vec<u8>, Problem> {
    input::read_bytes(path, MAX_FILE_BYTES).map_err(|e| {
        Problem::whole_file(match e {
            ReadError::Io(e) => format!("cannot read the file: {e}"),
            ReadError::NotRegular { .. } => format!("{e}: a scenario is a regular file"),
            ReadError::TooLarge { .. } => format!("{e}, the limit for a scenario file"),
            // Read as bytes: UTF-8 is checked by `utf8`, which says where it breaks.
            ReadError::NotUtf8 => e.to_string(),
        })
    })
}

/// The scenario name: the file stem, which also names its golden file and its tests.
fn name_of(path: &Path) -> Result<String, Problem> {
    let stem = path.file_stem().unwrap_or_default();
    let valid = |name: &str| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let longest = max_name_bytes();
    match stem.to_str() {
        Some(name) if valid(name) && name.len() > longest => Err(Problem::whole_file(format!(
            "scenario name `{name}` is {} bytes long, more than {longest}: its run's files \
             (`{name}.overlay.jsonl.bad`) must fit in one 255-byte file name",
            name.len()
        ))),
        Some(name) if valid(name) => Ok(name.to_owned()),
        _ => Err(Problem::whole_file(format!(
            "`{}` is not a valid scenario name: the file stem names the scenario, and may \
             hold only ASCII letters, digits, `-` and `_`",
            stem.display()
        ))),
    }
}

/// The file's text; for bytes that are not UTF-8, the position of the first of them.
fn utf8(bytes: Vec<u8>) -> Result<String, Problem> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let before = std::str::from_utf8(valid).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Problem {
            position: Some(Position {
                line: before.matches('\n').count() as u64 + 1,
                column: before[line_start..].chars().count() as u64 + 1,
            }),
            message: "not UTF-8 text: scenario files are UTF-8".to_owned(),
        }
    })
}
