//! Errors of the docker runner: one enum, each variant carrying what the user needs to act on it.

use std::path::PathBuf;

/// What can go wrong while building the runner image, bootstrapping its base, or running a container.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The engine's socket is missing or does not answer.
    #[error(
        "docker engine unreachable at {host} ({reason}); start the engine: systemctl start docker, \
         or dockerd & (set DOCKER_HOST to use another socket)"
    )]
    Unreachable { host: String, reason: String },

    /// An Engine API call failed after the engine was reached.
    #[error("docker api call `{op}` failed")]
    Api {
        op: &'static str,
        #[source]
        source: bollard::errors::Error,
    },

    /// The async runtime behind the synchronous facade could not be created.
    #[error("cannot create the runtime for the docker client")]
    Runtime(#[source] std::io::Error),

    /// An input of the build context (the binary, a scenario, a golden file) cannot be read.
    #[error("cannot read build input {path}")]
    BuildInput {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An input of the build context is of a kind a build context cannot hold.
    #[error(
        "build input {path} is {what}; only regular files and directories with UTF-8 names are taken"
    )]
    UnsupportedInput { path: PathBuf, what: &'static str },

    /// Neither the official base image nor the bootstrapped one is present, and nothing is pulled.
    #[error(
        "no base image for the runner: neither {official} nor {bootstrapped} is present locally, \
         and no registry pull is attempted; run `fsmatrix image bootstrap` to make one offline"
    )]
    NoBaseImage {
        official: &'static str,
        bootstrapped: &'static str,
    },

    /// The build ran and reported an error (a failing step, a missing file).
    #[error("building image {tag} failed: {message}")]
    Build { tag: String, message: String },

    /// The build stream ended without an error, yet the tag is not there.
    #[error("building image {tag} ended without producing it")]
    BuildIncomplete { tag: String },

    /// The host-wide lock that orders image builds and removals cannot be taken.
    #[error("cannot take the runner image lock {path}; fsmatrix must run as root")]
    ImageLock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The `debootstrap` program is not installed.
    #[error(
        "debootstrap not found (looked in PATH, /usr/sbin and /sbin); install the package \
         `debootstrap` (apt-get install debootstrap)"
    )]
    DebootstrapMissing,

    /// `debootstrap` could not be started or exited with an error.
    #[error("debootstrap {status}; last output:\n{tail}")]
    Debootstrap { status: String, tail: String },

    /// The temporary directory of a bootstrap could not be made or removed.
    #[error("bootstrap work directory {path}")]
    Workdir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A mount under the bootstrap directory could not be detached, so the directory is kept.
    #[error("bootstrap work directory {path} still has a mount at {mount}; it was left in place")]
    WorkdirBusy { path: PathBuf, mount: PathBuf },

    /// The engine refused or failed the import of the bootstrapped root filesystem.
    #[error("importing base image {tag} failed: {message}")]
    Import { tag: String, message: String },

    /// The host directory to bind at `/out` cannot be created.
    #[error("cannot prepare output directory {path}")]
    OutDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The run was cancelled (Ctrl-C, SIGTERM); the container was stopped and removed.
    #[error("run {run_id} cancelled; container {container} stopped and removed")]
    Cancelled { run_id: String, container: String },

    /// The container could not be removed; `fsmatrix clean` removes it later.
    #[error("removing container {container} failed; `fsmatrix clean` removes leftovers")]
    Remove {
        container: String,
        #[source]
        source: bollard::errors::Error,
    },
}

impl DockerError {
    /// Whether no engine answered (a missing prerequisite), as opposed to an engine that failed.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, DockerError::Unreachable { .. })
    }

    pub(crate) fn api(op: &'static str) -> impl FnOnce(bollard::errors::Error) -> DockerError {
        move |source| DockerError::Api { op, source }
    }
}

/// Whether a bollard error is the engine's "no such object" answer.
pub(crate) fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// 409: the engine refuses because something still uses the object (an image a container runs).
pub(crate) fn is_conflict(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}
