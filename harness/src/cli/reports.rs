//! The report files of a run (`--junit`, `--json`): each is checked before the first trial, by
//! creating a temporary file beside it, so a path that cannot be written fails the run before
//! any work is done; each is written to that temporary file and renamed into place once
//! complete, so a run that stops before its end (refused, failed) leaves the last report as it
//! was; and each is written even when the other could not be, so a JUnit error never loses the
//! JSON report.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::HarnessError;
use crate::matrix::{DeclaredScope, TrialId};
use crate::report::json::JsonReport;
use crate::report::{TrialResult, junit};

#[derive(Debug)]
pub(super) struct ReportFiles {
    junit: Option<ReportFile>,
    json: Option<ReportFile>,
}

impl ReportFiles {
    pub(super) fn create(junit: Option<&Path>, json: Option<&Path>) -> Result<Self, HarnessError> {
        let create = |path: Option<&Path>, what| {
            path.map(|path| {
                ReportFile::create(path).map_err(|source| HarnessError::Io {
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
        let json = self.json.map(|report| {
            let path = report.path.clone();
            report
                .write(|file| JsonReport::new(selected, scopes, results).write(file))
                .map_err(|source| HarnessError::Io {
                    what: "write the JSON report",
                    path,
                    source,
                })
        });
        let junit = self.junit.map(|report| {
            let path = report.path.clone();
            report
                .write(|file| junit::write(file, results))
                .map_err(|source| HarnessError::Io {
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

/// One report file, ready to be written.
#[derive(Debug)]
struct ReportFile {
    /// As the user named it.
    path: PathBuf,
    target: Target,
}

#[derive(Debug)]
enum Target {
    /// A regular file, or none yet: written to a temporary file beside it, then renamed to
    /// `file` (the path with its symlinks resolved, so that a link to the report stays a link).
    Replaced {
        file: PathBuf,
        temporary: Temporary,
        out: File,
    },
    /// Something else (`/dev/stdout`, a pipe): written where it is, as it cannot be replaced.
    InPlace(File),
}

impl ReportFile {
    fn create(path: &Path) -> io::Result<ReportFile> {
        let target = match fs::metadata(path) {
            Ok(meta) if !meta.is_file() => {
                Target::InPlace(OpenOptions::new().write(true).open(path)?)
            }
            Ok(_) => Target::replacing(fs::canonicalize(path)?)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Target::replacing(path.to_owned())?,
            Err(e) => return Err(e),
        };
        Ok(ReportFile {
            path: path.to_owned(),
            target,
        })
    }

    /// Writes the report with `write`, and puts it in place.
    fn write(self, write: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
        match self.target {
            Target::InPlace(mut out) => write(&mut out),
            Target::Replaced {
                file,
                temporary,
                mut out,
            } => {
                write(&mut out)?;
                out.sync_all()?;
                fs::rename(&temporary.0, &file)
            }
        }
    }
}

impl Target {
    fn replacing(file: PathBuf) -> io::Result<Target> {
        let mut name = OsString::from(".");
        name.push(file.file_name().unwrap_or_default());
        name.push(format!(".fsmatrix-{}.tmp", std::process::id()));
        let temporary = file.with_file_name(name);
        let out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        Ok(Target::Replaced {
            file,
            temporary: Temporary(temporary),
            out,
        })
    }
}

/// A report's temporary file, removed unless it was renamed into place: a run that stops early
/// leaves nothing beside the last report.
#[derive(Debug)]
struct Temporary(PathBuf);

impl Drop for Temporary {
    fn drop(&mut self) {
        match fs::remove_file(&self.0) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                eprintln!("fsmatrix: cannot remove {}: {e}", self.0.display());
            }
            _ => {}
        }
    }
}
