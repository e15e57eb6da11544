//! The directories a run owns, and the reclaiming of what a killed run left behind.
//!
//! The work directory must be a real directory owned by the user running fsmatrix (root) that
//! nobody else can write to (it is made mode 0700), below directories that nobody but root can
//! change: `clean` runs as root and removes what it finds there, so nobody else may plant
//! anything in it or move it away. Every run makes `WORK/run-<time>-<pid>/` and holds an exclusive `flock` on
//! its `run.lock` while it lives. Trials live under `trials/`, rejected transcripts under
//! `bad/`. `fsmatrix clean` decides from that lock alone whether a run is dead, never follows a
//! symlink, and sweeps each dead run: the processes its trials provably started, its mounts,
//! its loop devices (found by backing file under the directory), then the directory itself.

mod clean;
mod dir;
mod error;
mod run_dir;
mod space;
mod trial_group;

pub use clean::{Cleaned, Left, Survey};
pub use dir::{DEFAULT_WORK_DIR, WorkDir};
pub use error::WorkDirError;
pub use run_dir::RunDir;
pub use space::{FreeSpaceWatch, blame_a_full_host, free_bytes};
pub use trial_group::{TRIAL_TOKEN_ENV, TrialGroup, kill_token_carriers};
