//! One host-wide lock around building and removing runner images.
//!
//! The engine is shared by every run on the host, whatever its work directory. Two runs that
//! find the same tag missing would both build it: the second build moves the tag to its own
//! image, the first run's container keeps an untagged image that no `clean` ever finds, and a
//! `clean` that sees the tag unused removes the image the first run still holds. Builds and
//! removals therefore take turns under one `flock`.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::error::DockerError;

/// Root-owned, so no other user can plant a file or symlink under this name.
const LOCK_PATH: &str = "/run/switchyard-fsmatrix-image.lock";

/// Held while an image is looked up and built, or removed; released on drop.
#[derive(Debug)]
pub(crate) struct ImageLock {
    _file: File,
}

impl ImageLock {
    /// Waits for the lock; a build by another run finishes first.
    pub(crate) fn acquire() -> Result<ImageLock, DockerError> {
        let error = |source| DockerError::ImageLock {
            path: Path::new(LOCK_PATH).to_owned(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(LOCK_PATH)
            .map_err(error)?;
        file.lock().map_err(error)?;
        Ok(ImageLock { _file: file })
    }
}
