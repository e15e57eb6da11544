//! What can stop a real-system trial.

use std::io;
use std::path::PathBuf;

use crate::docker::DockerError;
use crate::fixture::FixtureError;

#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    #[error(transparent)]
    Fixture(#[from] FixtureError),

    #[error("building the cached Debian root failed")]
    Bootstrap(#[source] DockerError),

    #[error("{what} `{}`", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("`{command}` {problem}")]
    Command { command: String, problem: String },

    /// An expectation of the suite that the system did not meet.
    #[error("{0}")]
    Check(String),
}
