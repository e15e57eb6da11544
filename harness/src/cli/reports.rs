//! The report files of a run (`--junit`, `--json`): created before the first trial, so a path
//! that cannot be written fails the run before any work is done; each is written even when the
//! other could not be, so a JUnit error never loses the JSON report.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::HarnessError;
use crate::matrix::{DeclaredScope, TrialId};
use crate::report::json::JsonReport;
use crate::report::{TrialResult, junit};

#[derive(Debug)]
pub(super) struct ReportFiles {
    junit: Option<(PathBuf, File)>,
    json: Option<(PathBuf, File)>,
}

impl ReportFiles {
    pub(super) fn create(junit: Option<&Path>, json: Option<&Path>) -> Result<Self, HarnessError> {
        let create = |path: Option<&Path>, what| {
            path.map(|path| {
                File::create(path)
                    .map(|file| (path.to_owned(), file))
                    .map_err(|source| HarnessError::Io {
                        what,
                        path: path.to_owned(),
                        source,
                    })
            })
            .transpose()
        };
        Ok(ReportFiles {
            junit: create(junit, "create the JUnit report")?,
            json: create(json, "create the JSON report")?,
        })
    }

    /// Writes the JSON report, then the JUnit report; the first error, after both were tried.
    pub(super) fn write(
        self,
        selected: &[TrialId],
        scopes: &[DeclaredScope],
        results: &[TrialResult],
    ) -> Result<(), HarnessError> {
        let json = self.json.map(|(path, file)| {
            JsonReport::new(selected, scopes, results)
                .write(file)
                .map_err(|source| HarnessError::Io {
                    what: "write the JSON report",
                    path,
                    source,
                })
        });
        let junit = self.junit.map(|(path, file)| {
            junit::write(file, results).map_err(|source| HarnessError::Io {
                what: "write the JUnit report",
                path,
                source,
            })
        });
        json.transpose()?;
        junit.transpose()?;
        Ok(())
    }
}
