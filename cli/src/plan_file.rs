//! Plan files: links, per-target health-check overrides and the policy, in YAML or (for a file
//! named `*.json`) JSON. A malformed file is reported at its line and column; so are a path the
//! engine refuses and a health check for a target the plan does not link (YAML only: the JSON
//! parser keeps no places, so there the file and the value are named).
//!
//! ```yaml
//! policy: production          # or permissive; the command line's --policy when absent
//! from: usr/lib/cargo/bin/coreutils
//! links:
//!   - source: opt/tools/mytool
//!     target: usr/local/bin/mytool
//! health:                     # by target, relative to the root; each one a target of the plan
//!   usr/local/bin/mytool: { args: [ping], expect: { exit: [0] } }
//!   usr/bin/yes: { expect: runs }
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::{DefaultMessageFormatter, MessageFormatter, Spanned};
use switchyard::{HealthCheck, LinkRequest, SafePath};

use crate::args::PolicyName;
use crate::error::CliError;
use crate::paths::root_relative;

/// A loaded plan file.
#[derive(Debug)]
pub struct PlanFile {
    file: PathBuf,
    content: Content,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Content {
    #[serde(default)]
    policy: Option<FilePolicy>,
    #[serde(default)]
    from: Option<Spanned<PathBuf>>,
    #[serde(default)]
    links: Vec<FileLink>,
    #[serde(default)]
    health: HashMap<Spanned<PathBuf>, HealthCheck>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLink {
    source: Spanned<PathBuf>,
    target: Spanned<PathBuf>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum FilePolicy {
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

/// A place in a plan file: `FILE:LINE:COLUMN`, or `FILE` where the parser kept no place.
#[derive(Debug)]
pub struct At {
    file: PathBuf,
    line_column: Option<(u64, u64)>,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        match self.line_column {
            Some((line, column)) => write!(f, ":{line}:{column}"),
            None => Ok(()),
        }
    }
}

impl PlanFile {
    pub fn load(file: &Path) -> Result<PlanFile, CliError> {
        let text = std::fs::read_to_string(file).map_err(|source| CliError::ReadPlanFile {
            file: file.to_owned(),
            source,
        })?;
        let located = |line: u64, column: u64, message: String| CliError::PlanFile {
            at: At {
                file: file.to_owned(),
                line_column: Some((line.max(1), column.max(1))),
            },
            message,
        };
        let content = if file.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| {
                let (line, column) = (e.line() as u64, e.column() as u64);
                located(line, column, json_message(&e))
            })?
        } else {
            let options = serde_saphyr::options! {
                duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
                strict_booleans: true,
                reject_unsupported_tags: true,
                with_snippet: false,
            };
            serde_saphyr::from_str_with_options(&text, options).map_err(|e| {
                let e = e.without_snippet();
                let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
                located(
                    line,
                    column,
                    DefaultMessageFormatter.format_message(e).into_owned(),
                )
            })?
        };
        Ok(PlanFile {
            file: file.to_owned(),
            content,
        })
    }

    pub fn policy(&self) -> Option<PolicyName> {
        self.content.policy.map(PolicyName::from)
    }

    /// The file's `from` directory, relative to the root.
    pub fn from(&self, root: &Path) -> Result<Option<SafePath>, CliError> {
        self.content
            .from
            .as_ref()
            .map(|dir| self.safe_path(root, dir))
            .transpose()
    }

    /// The file's links over `root`.
    pub fn links(&self, root: &Path) -> Result<Vec<LinkRequest>, CliError> {
        self.content
            .links
            .iter()
            .map(|link| {
                Ok(LinkRequest {
                    source: self.safe_path(root, &link.source)?,
                    target: self.safe_path(root, &link.target)?,
                })
            })
            .collect()
    }

    /// The health-check overrides by target; each must be one of `links`' targets, or it
    /// would never run.
    pub fn health(
        &self,
        root: &Path,
        links: &[LinkRequest],
    ) -> Result<BTreeMap<PathBuf, HealthCheck>, CliError> {
        let targets: HashSet<&Path> = links.iter().map(|l| l.target.rel()).collect();
        let mut checks: Vec<_> = self.content.health.iter().collect();
        // In file order, so the first stray key is the one reported.
        checks.sort_by_key(|(key, _)| (place(key), key.value.clone()));
        let mut by_target = BTreeMap::new();
        for (key, check) in checks {
            let target = self.safe_path(root, key)?;
            if !targets.contains(target.rel()) {
                return Err(CliError::PlanFile {
                    at: self.at(key),
                    message: format!(
                        "a health check for `{}`, which the plan does not link",
                        key.value.display()
                    ),
                });
            }
            by_target.insert(target.rel().to_owned(), check.clone());
        }
        Ok(by_target)
    }

    /// `value` as a path inside `root` (a leading `/` is the root's), or the engine's refusal
    /// at its place.
    fn safe_path(&self, root: &Path, value: &Spanned<PathBuf>) -> Result<SafePath, CliError> {
        SafePath::new(root, root_relative(&value.value)).map_err(|source| CliError::InPlanFile {
            at: Box::new(self.at(value)),
            source,
        })
    }

    fn at<T>(&self, value: &Spanned<T>) -> At {
        At {
            file: self.file.clone(),
            line_column: place(value),
        }
    }
}

/// Where the YAML parser found a value; `None` from the JSON parser, which keeps no places.
fn place<T>(value: &Spanned<T>) -> Option<(u64, u64)> {
    let at = value.referenced;
    (at.line() > 0).then(|| (at.line(), at.column()))
}

/// serde_json's message without its own " at line L column C" suffix, which the location
/// prefix already says.
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}
