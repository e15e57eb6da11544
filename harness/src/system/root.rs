//! The cached Debian root: made once with debootstrap, kept by suite and package list.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::SystemError;
use crate::docker::bootstrap::{SUITE, debootstrap, locate_debootstrap, search_dirs};

/// What the root gets beyond minbase: uutils, and BusyBox as the rescue toolset that survives
/// switching every GNU coreutils program.
pub const PACKAGES: &str = "rust-coreutils,busybox";

/// The root for [`SUITE`] with [`PACKAGES`] from `mirror` under `work_dir`, made with debootstrap
/// when it is not there yet. A root is complete once its marker exists; a partial one is made
/// again.
pub fn cached_root(
    work_dir: &Path,
    mirror: &str,
    log: &mut dyn FnMut(&str),
) -> Result<PathBuf, SystemError> {
    let dir = cache_dir(work_dir, mirror);
    let rootfs = dir.join("rootfs");
    let marker = dir.join("complete");
    if marker.exists() {
        return Ok(rootfs);
    }
    let io = |what, path: &Path| {
        let path = path.to_owned();
        move |source| SystemError::Io { what, path, source }
    };
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(io("cannot remove the partial root", &dir))?;
    }
    fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
    let program = locate_debootstrap(&search_dirs()).map_err(SystemError::Bootstrap)?;
    debootstrap(&program, &rootfs, mirror, PACKAGES, log).map_err(SystemError::Bootstrap)?;
    fs::write(&marker, PACKAGES).map_err(io("cannot write", &marker))?;
    Ok(rootfs)
}

/// Where the root from `mirror` is cached: keyed by suite, package list and mirror, since
/// mirrors may serve different package versions.
fn cache_dir(work_dir: &Path, mirror: &str) -> PathBuf {
    let digest = Sha256::digest(format!("{SUITE} minbase {PACKAGES} {mirror}"));
    let key: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    work_dir.join("system-cache").join(format!("{SUITE}-{key}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::bootstrap::DEFAULT_MIRROR;

    #[test]
    fn each_mirror_has_a_cache_of_its_own() {
        let work = Path::new("/w");
        let default = cache_dir(work, DEFAULT_MIRROR);
        assert_ne!(default, cache_dir(work, "http://mirror.example/debian"));
        // The key of the default mirror is the one roots were cached under before the mirror
        // could be chosen: those caches stay valid.
        assert_eq!(default, Path::new("/w/system-cache/bookworm-b9dcef9e6bbd"));
    }
}
