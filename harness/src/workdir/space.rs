//! Room left in the work directory's filesystem. A trial's images are sparse: they take host
//! space as the trial writes, so a host that runs out fails the trial from underneath, as an
//! I/O error of the loop device, a mkfs that cannot zero its device, or a file of the harness's
//! own it cannot write. Such a failure is the machine's, and is reported as such; any other
//! failure is reported as what it is, however little room there is.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::report::{Failure, FailureKind};

const MIB: u64 = 1 << 20;

/// Free space under which the host's work dir counts as full: near zero, but above what a host
/// filesystem keeps back even from root. ext4 refuses writes while statfs still shows up to
/// 16 MiB free (its reserved clusters), so a write that failed there for lack of room leaves
/// that much showing.
pub const NEARLY_FULL: u64 = 32 * MIB;

/// How often the free space is looked at while a trial runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// Bytes the filesystem holding `path` has free (for root, reserved blocks included).
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(stat.f_bfree.saturating_mul(stat.f_frsize))
}

/// The lowest free space of the work dir's filesystem while a trial runs, looked at on a thread
/// of its own. Looking once, after the trial, would not do: a trial that filled the host fails
/// and deletes its image, giving the room back, within moments.
#[derive(Debug)]
pub struct FreeSpaceWatch {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<Option<u64>>,
}

impl FreeSpaceWatch {
    pub fn start(work_dir: &Path) -> FreeSpaceWatch {
        let (stop, stopped) = mpsc::channel();
        let dir: PathBuf = work_dir.to_owned();
        let thread = thread::spawn(move || {
            let mut lowest: Option<u64> = None;
            loop {
                if let Ok(free) = free_bytes(&dir) {
                    lowest = Some(lowest.map_or(free, |l| l.min(free)));
                }
                match stopped.recv_timeout(SAMPLE_EVERY) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return lowest,
                }
            }
        });
        FreeSpaceWatch { stop, thread }
    }

    /// Stops watching: the lowest free space seen, or `None` if it could never be read.
    pub fn lowest(self) -> Option<u64> {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or(None)
    }
}

/// `failure` as the machine's fault when the host's work dir was nearly full while the trial
/// ran (`lowest_free`, from a [`FreeSpaceWatch`]) and the failure is of a kind a full host
/// causes. Under a full host the loop device's writes fail, and the filesystem on it answers the
/// engine with `EIO`: an engine error or a wrong tree is then the host's doing, not a verdict on
/// the engine (the trial's own words are kept in the message). The threshold is the watched
/// low point, not an image's nominal size: images are sparse, and a trial with little but
/// enough room is judged on its own.
pub fn blame_a_full_host(work_dir: &Path, lowest_free: Option<u64>, failure: Failure) -> Failure {
    match lowest_free {
        Some(free) if free < NEARLY_FULL && may_be_the_hosts(failure.kind) => Failure::new(
            FailureKind::Prerequisite,
            format!(
                "the host's work dir is full: {} had {} MiB free while the trial ran, less than \
                 {} MiB; free space there or choose another --work-dir (the trial said: {})",
                work_dir.display(),
                free / MIB,
                NEARLY_FULL / MIB,
                failure.message
            ),
        ),
        _ => failure,
    }
}

/// Whether a failure of `kind` is one a host out of room causes from underneath.
fn may_be_the_hosts(kind: FailureKind) -> bool {
    match kind {
        // A fixture that failed (a mkfs that could not zero its device, a sync of the image
        // that got the loop device's I/O error), a file of the harness's own it could not
        // write, a child that died writing its report; and the engine's answer to a filesystem
        // that fails under it, or the tree such a filesystem left.
        FailureKind::Harness
        | FailureKind::Prerequisite
        | FailureKind::ChildCrashed
        | FailureKind::Expectation
        | FailureKind::CrashSafety
        | FailureKind::GoldenMismatch => true,
        // Nothing written: a golden file absent, a trial that hung or never ran.
        FailureKind::GoldenMissing | FailureKind::TimedOut | FailureKind::NotRun => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blamed(lowest_free: Option<u64>, kind: FailureKind) -> bool {
        let failure = Failure::new(kind, "the trial's words");
        let after = blame_a_full_host(Path::new("/w"), lowest_free, failure);
        after
            .message
            .starts_with("the host's work dir is full: /w had ")
    }

    /// An engine error under a full host (`E_ATOMIC_SWAP ... Input/output error`) is the host's
    /// doing; with room, or the room unknown, every failure is judged as it is.
    #[test]
    fn only_a_failure_with_the_host_nearly_full_is_the_hosts() {
        let full = Some(NEARLY_FULL - 1);
        for kind in [
            FailureKind::Harness,
            FailureKind::Prerequisite,
            FailureKind::ChildCrashed,
            FailureKind::Expectation,
            FailureKind::CrashSafety,
            FailureKind::GoldenMismatch,
        ] {
            assert!(blamed(full, kind), "{kind}");
            assert!(!blamed(Some(NEARLY_FULL), kind), "{kind} with room");
            assert!(!blamed(None, kind), "{kind} with the room unknown");
        }
        for kind in [
            FailureKind::GoldenMissing,
            FailureKind::TimedOut,
            FailureKind::NotRun,
        ] {
            assert!(!blamed(Some(0), kind), "{kind}");
        }
    }

    /// A dip in the room that lasts a moment, as when a trial fills the host and then deletes
    /// its image, is seen.
    #[test]
    fn the_watch_sees_a_moment_without_room() {
        let dir = Path::new("/dev/shm");
        let file = dir.join(format!("fsmatrix-space-{}", std::process::id()));
        let before = free_bytes(dir).unwrap();
        let watch = FreeSpaceWatch::start(dir);
        let taken = std::fs::File::create(&file).unwrap();
        rustix::fs::fallocate(&taken, rustix::fs::FallocateFlags::empty(), 0, 16 * MIB).unwrap();
        thread::sleep(Duration::from_millis(100));
        std::fs::remove_file(&file).unwrap();
        drop(taken);
        thread::sleep(Duration::from_millis(100));
        let lowest = watch.lowest().unwrap();
        assert!(
            lowest <= before - 8 * MIB,
            "{} MiB free before, lowest seen {} MiB",
            before / MIB,
            lowest / MIB
        );
    }
}
