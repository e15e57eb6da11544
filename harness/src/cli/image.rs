//! `fsmatrix image build|bootstrap`.

use std::path::Path;
use std::process::ExitCode;

use super::args::SourceArgs;
use super::out::outln;
use super::session::fsmatrix_exe;
use crate::docker::{BootstrapOptions, BootstrapOutcome, BuildInputs, Docker, RunnerImage};
use crate::error::HarnessError;
use crate::workdir::WorkDir;

pub(super) fn build(source: &SourceArgs) -> Result<ExitCode, HarnessError> {
    let image = runner_image(&Docker::connect()?, source)?;
    outln!("runner image: {} (from {})", image.tag, image.base);
    Ok(ExitCode::SUCCESS)
}

/// The runner image of this binary and these scenarios and golden files, built unless cached.
pub(super) fn runner_image(
    docker: &Docker,
    source: &SourceArgs,
) -> Result<RunnerImage, HarnessError> {
    let inputs = BuildInputs::new(fsmatrix_exe()?, &source.scenarios, &source.golden);
    Ok(docker.ensure_runner_image(&inputs, &mut |line| outln!("{line}"))?)
}

pub(super) fn bootstrap(
    work_dir: &Path,
    force: bool,
    mirror: &str,
) -> Result<ExitCode, HarnessError> {
    let docker = Docker::connect()?;
    let opts = BootstrapOptions {
        mirror: mirror.to_owned(),
        force,
        workdir: work_dir.to_owned(),
    };
    WorkDir::create(work_dir)?;
    match docker.bootstrap_base(&opts, &mut |line| outln!("{line}"))? {
        BootstrapOutcome::AlreadyPresent { id } => {
            outln!("the base image is already present ({id}); use --force to rebuild it");
        }
        BootstrapOutcome::Imported { id } => outln!("imported the base image ({id})"),
    }
    Ok(ExitCode::SUCCESS)
}
