//! Errors of the traceability check: each names its file and, where the problem sits at a place
//! in it, the line and column.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::scenario::Position;

/// One broken rule, where it is broken.
///
/// Displays as `FILE:LINE:COLUMN: MESSAGE`, or `FILE: MESSAGE` for a problem of the file as a
/// whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceError {
    pub file: PathBuf,
    pub position: Option<Position>,
    pub message: String,
}

impl TraceError {
    pub(super) fn new(
        file: &Path,
        position: Option<Position>,
        message: impl Into<String>,
    ) -> TraceError {
        TraceError {
            file: file.to_path_buf(),
            position,
            message: message.into(),
        }
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(Position { line, column }) => {
                write!(
                    f,
                    "{}:{line}:{column}: {}",
                    self.file.display(),
                    self.message
                )
            }
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for TraceError {}

/// Every broken rule found, in the order the inputs were read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceErrors(pub Vec<TraceError>);

impl TraceErrors {
    /// `Ok` when there is nothing to report.
    pub(super) fn or_ok<T>(errors: Vec<TraceError>, value: T) -> Result<T, TraceErrors> {
        if errors.is_empty() {
            Ok(value)
        } else {
            Err(TraceErrors(errors))
        }
    }
}

/// One error per line.
impl fmt::Display for TraceErrors {
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

impl std::error::Error for TraceErrors {}
