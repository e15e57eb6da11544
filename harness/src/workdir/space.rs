//! Room left in the work directory's filesystem. A trial's images are sparse: they take host
//! space as the trial writes, so a host that runs out fails the trial from underneath, as an
//! engine error (`E_NO_SPACE`, an I/O error of the loop device) or a mkfs that cannot zero its
//! device. Such a failure is the machine's, and is reported as such.

use std::io;
use std::path::Path;

use crate::fixture;
use crate::fs_kind::FsKind;
use crate::report::{Failure, FailureKind};

const MIB: u64 = 1 << 20;

/// Bytes the filesystem holding `path` has free (for root, reserved blocks included).
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(stat.f_bfree.saturating_mul(stat.f_frsize))
}

/// `failure` of a trial on `fs` as the machine's fault when the work directory cannot hold
/// that trial's image (after the trial released it): it may have failed only for lack of room.
pub fn blame_a_full_host(work_dir: &Path, fs: FsKind, failure: Failure) -> Failure {
    // A tmpfs trial has no image, but still writes its own files in the work directory.
    let needed = fixture::image_size(fs).unwrap_or(MIB);
    match free_bytes(work_dir) {
        Ok(free) if free < needed => Failure::new(
            FailureKind::Prerequisite,
            format!(
                "the host's work dir is full: {} has {} MiB free, less than the {} MiB a trial on \
                 {fs} may need; free space there or choose another --work-dir (the trial said: {})",
                work_dir.display(),
                free / MIB,
                needed / MIB,
                failure.message
            ),
        ),
        _ => failure,
    }
}
