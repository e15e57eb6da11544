//! Errors of loading scenario files: each names its file and, where the problem sits at a node of
//! the YAML document, the line and column of that node.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::Location;

/// A 1-based line and column (in characters) within a scenario file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

impl Position {
    /// The position of a serde-saphyr location; `None` for its "unknown" sentinel (line 0).
    pub(crate) fn of(location: &Location) -> Option<Position> {
        (location.line() > 0).then(|| Position {
            line: location.line(),
            column: location.column(),
        })
    }
}

/// One scenario file that could not be loaded, and why.
///
/// Displays as `FILE:LINE:COLUMN: MESSAGE`, or `FILE: MESSAGE` for problems of the file as a whole
/// (it cannot be read, it is not UTF-8 text without a known position, its name is not a valid
/// scenario name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    file: PathBuf,
    position: Option<Position>,
    message: String,
}

impl ScenarioError {
    pub(super) fn new(file: &Path, problem: Problem) -> ScenarioError {
        ScenarioError {
            file: file.to_path_buf(),
            position: problem.position,
            message: escape_controls(&problem.message),
        }
    }

    /// The scenario file, as the caller named it.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Where in the file the problem is, if it is at a node of the document.
    pub fn position(&self) -> Option<Position> {
        self.position
    }

    pub fn line(&self) -> Option<u64> {
        self.position.map(|p| p.line)
    }

    pub fn column(&self) -> Option<u64> {
        self.position.map(|p| p.column)
    }

    /// What is wrong, without the file and position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(Position { line, column }) => write!(
                f,
                "{}:{line}:{column}: {}",
                self.file.display(),
                self.message
            ),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// Every problem found while loading a directory of scenarios, in file-name order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioErrors(Vec<ScenarioError>);

impl ScenarioErrors {
    pub(super) fn new(errors: Vec<ScenarioError>) -> ScenarioErrors {
        ScenarioErrors(errors)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ScenarioError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<ScenarioError> {
        self.0
    }
}

impl IntoIterator for ScenarioErrors {
    type Item = ScenarioError;
    type IntoIter = std::vec::IntoIter<ScenarioError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ScenarioErrors {
    type Item = &'a ScenarioError;
    type IntoIter = std::slice::Iter<'a, ScenarioError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// One error per line.
impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioErrors {}

/// A problem found in a document, before it is tied to its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Problem {
    pub position: Option<Position>,
    pub message: String,
}

impl Problem {
    /// A problem at the node serde-saphyr located at `location`.
    pub(super) fn at(location: &Location, message: impl Into<String>) -> Problem {
        Problem {
            position: Position::of(location),
            message: message.into(),
        }
    }

    /// A problem of the file as a whole.
    pub(super) fn whole_file(message: impl Into<String>) -> Problem {
        Problem {
            position: None,
            message: message.into(),
        }
    }
}

/// Messages quote what the file says; a control character in it must not reach a terminal raw.
fn escape_controls(message: &str) -> String {
    message
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(position: Option<Position>, message: &str) -> ScenarioError {
        ScenarioError::new(
            Path::new("scenarios/foo.yaml"),
            Problem {
                position,
                message: message.to_owned(),
            },
        )
    }

    #[test]
    fn displays_file_line_column_and_message() {
        let e = error(
            Some(Position {
                line: 12,
                column: 5,
            }),
            "unknown key `frobnicate` in step `apply`",
        );
        assert_eq!(
            e.to_string(),
            "scenarios/foo.yaml:12:5: unknown key `frobnicate` in step `apply`"
        );
        assert_eq!((e.line(), e.column()), (Some(12), Some(5)));
    }

    #[test]
    fn whole_file_problems_still_name_the_file() {
        let e = error(None, "cannot read the file");
        assert_eq!(e.to_string(), "scenarios/foo.yaml: cannot read the file");
        assert_eq!(e.line(), None);
    }

    #[test]
    fn control_characters_are_escaped() {
        let e = error(None, "unknown key `a\u{1b}[2Jb\n`");
        assert_eq!(e.message(), "unknown key `a\\u{1b}[2Jb\\n`");
    }

    #[test]
    fn many_errors_display_one_per_line() {
        let errors = ScenarioErrors::new(vec![error(None, "one"), error(None, "two")]);
        assert_eq!(
            errors.to_string(),
            "scenarios/foo.yaml: one\nscenarios/foo.yaml: two"
        );
    }
}
