//! Plan files: links, per-target health-check overrides and the policy, in YAML or (for a file
//! named `*.json`) JSON. A malformed file is reported at its line and column.
//!
//! ```yaml
//! policy: production          # or permissive; the command line's --policy when absent
//! from: usr/lib/cargo/bin/coreutils
//! links:
//!   - source: opt/tools/mytool
//!     target: usr/local/bin/mytool
//! health:                     # by target, relative to the root
//!   usr/local/bin/mytool: { args: [ping], expect: { exit: [0] } }
//!   usr/bin/yes: { expect: runs }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::{DefaultMessageFormatter, MessageFormatter};
use switchyard::HealthCheck;

use crate::args::PolicyName;
use crate::error::CliError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    #[serde(default)]
    pub policy: Option<FilePolicy>,
    #[serde(default)]
    pub from: Option<PathBuf>,
    #[serde(default)]
    pub links: Vec<FileLink>,
    #[serde(default)]
    pub health: BTreeMap<PathBuf, HealthCheck>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLink {
    pub source: PathBuf,
    pub target: PathBuf,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilePolicy {
    Production,
    Permissive,
}

impl From<FilePolicy> for PolicyName {
    fn from(policy: FilePolicy) -> PolicyName {
        match policy {
            FilePolicy::Production => PolicyName::Production,
            FilePolicy::Permissive => PolicyName::Permissive,
        }
    }
}

impl PlanFile {
    pub fn load(file: &Path) -> Result<PlanFile, CliError> {
        let text = std::fs::read_to_string(file).map_err(|source| CliError::ReadPlanFile {
            file: file.to_owned(),
            source,
        })?;
        let located = |line: usize, column: usize, message: String| CliError::PlanFile {
            file: file.to_owned(),
            line: line.max(1),
            column: column.max(1),
            message,
        };
        if file.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| {
                let (line, column) = (e.line(), e.column());
                located(line, column, json_message(&e))
            })
        } else {
            let options = serde_saphyr::options! {
                duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
                strict_booleans: true,
                reject_unsupported_tags: true,
                with_snippet: false,
            };
            serde_saphyr::from_str_with_options(&text, options).map_err(|e| {
                let e = e.without_snippet();
                let (line, column) = e
                    .location()
                    .map_or((1, 1), |l| (l.line() as usize, l.column() as usize));
                located(
                    line,
                    column,
                    DefaultMessageFormatter.format_message(e).into_owned(),
                )
            })
        }
    }
}

/// serde_json's message without its own " at line L column C" suffix, which the location
/// prefix already says.
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}
