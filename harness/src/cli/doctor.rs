//! `fsmatrix doctor`: what this machine can and cannot do, and how to fix each gap.

use std::process::ExitCode;

use super::out::outln;
use crate::docker::Docker;
use crate::error::{HarnessError, exit};
use crate::fixture;
use crate::fs_kind::FsKind;

pub(super) fn doctor() -> Result<ExitCode, HarnessError> {
    let mut ok = true;
    outln!("host runner:");
    for kind in FsKind::ALL {
        for requirement in fixture::requirements(kind) {
            ok &= requirement.is_met();
            outln!("  {kind:<8} {requirement}");
        }
    }
    outln!("docker runner:");
    match Docker::connect() {
        Ok(docker) => outln!(
            "  ok    Docker engine {} at {} (API {})",
            docker.engine_version(),
            docker.host(),
            docker.api_version()
        ),
        Err(e) => {
            ok = false;
            outln!("  FAIL  {e}");
        }
    }
    match crate::fixture::find_program("debootstrap", std::env::var_os("PATH").as_deref()) {
        Some(path) => outln!(
            "  ok    debootstrap: {} (for `fsmatrix image bootstrap`)",
            path.display()
        ),
        None => {
            ok = false;
            outln!(
                "  FAIL  debootstrap not found in PATH: install the Debian package `debootstrap` \
                 (needed by `fsmatrix image bootstrap` where no registry is reachable)"
            );
        }
    }
    Ok(ExitCode::from(if ok {
        exit::PASSED
    } else {
        exit::PREREQUISITE
    }))
}
