//! The `docker` runner: builds the runner image through the Docker Engine API and re-runs
//! `fsmatrix` inside a container with the least privilege that loop-mounting needs.

pub(crate) mod bootstrap;
mod clean;
mod client;
mod container;
mod context;
mod error;
mod image;
mod image_lock;

#[cfg(test)]
mod tests;

pub use bootstrap::{BootstrapOptions, BootstrapOutcome, DEFAULT_MIRROR, MIRROR_ENV};
pub use clean::{CleanOptions, CleanReport, RemovedContainer};
pub use client::{DEFAULT_HOST, Docker};
pub use container::{OWNER_LABEL, RUN_LABEL, RunSpec, WORK_DIR_LABEL};
pub use context::{BuildContext, BuildInputs, DOCKERFILE, RUNNER_REPO};
pub use error::DockerError;
pub use image::{BOOTSTRAP_BASE, OFFICIAL_BASE, RunnerImage};
