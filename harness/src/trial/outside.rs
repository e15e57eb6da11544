//! Nothing outside the scenario root changes: the trial's filesystem around the root, and a
//! canary directory on the host that the escape scenarios' symlinks point at, are the same after
//! every step as before the first.
//!
//! An engine that resolved a parent outside the root could otherwise write there and still
//! fail or succeed the way the scenario expects, and the transcript, which shows only the root,
//! would never say.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::checks::OUTSIDE_ROOT;
use crate::report::{Failure, FailureKind};
use crate::transcript::{Snapshot, snapshot};

/// A host directory outside every trial's filesystem, with a `bin` inside, so that a symlink
/// to it leads somewhere real: an engine that followed it would find a directory to write in.
pub const CANARY: &str = "/run/fsmatrix-canary";

/// What the trial's filesystem holds that is not the engine's to change: everything but the
/// scenario root, the backup store and the full-filesystem fault's filler.
const ENGINE_OR_HARNESS: [&str; 3] = ["@fs/root", "@fs/store", "@fs/.fsmatrix-fill"];

#[derive(Debug)]
pub(crate) struct Outside {
    before: Snapshot,
}

impl Outside {
    pub(crate) fn take(mount: &Path) -> Result<Outside, Failure> {
        ensure_canary().map_err(|e| harness("the host canary directory", &e))?;
        Ok(Outside {
            before: state(mount).map_err(|e| harness("the outside snapshot", &e))?,
        })
    }

    /// Fails naming what changed outside the root since [`Outside::take`].
    pub(crate) fn check(&self, mount: &Path, when: &str) -> Result<(), Failure> {
        let now = state(mount).map_err(|e| harness("the outside snapshot", &e))?;
        let mut changed: Vec<&str> = self
            .before
            .iter()
            .filter(|(path, entry)| now.get(*path) != Some(entry))
            .map(|(path, _)| path.as_str())
            .collect();
        changed.extend(
            now.keys()
                .filter(|path| !self.before.contains_key(*path))
                .map(String::as_str),
        );
        if changed.is_empty() {
            return Ok(());
        }
        Err(Failure::new(
            FailureKind::Expectation,
            format!(
                "{when}: changed outside the scenario root: {}",
                changed.join(", ")
            ),
        )
        .with_checks([OUTSIDE_ROOT]))
    }
}

fn state(mount: &Path) -> io::Result<Snapshot> {
    let mut snap = snapshot(mount, "@fs/")?;
    snap.retain(|path, _| {
        !ENGINE_OR_HARNESS
            .iter()
            .any(|own| path == own || path.starts_with(&format!("{own}/")))
    });
    snap.extend(snapshot(Path::new(CANARY), "@host-canary/")?);
    Ok(snap)
}

/// Creates the canary whole, by renaming a finished directory into place, so a trial running
/// beside this one never sees it half made.
fn ensure_canary() -> io::Result<()> {
    let canary = Path::new(CANARY);
    if canary.is_dir() {
        return Ok(());
    }
    let building = canary.with_extension(format!("new-{}", std::process::id()));
    let _ = fs::remove_dir_all(&building);
    fs::create_dir_all(building.join("bin"))?;
    for dir in [&building, &building.join("bin")] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    }
    match fs::rename(&building, canary) {
        Ok(()) => Ok(()),
        Err(_) if canary.is_dir() => fs::remove_dir_all(&building),
        Err(e) => Err(e),
    }
}

fn harness(what: &str, e: &io::Error) -> Failure {
    Failure::new(FailureKind::Harness, format!("{what}: {e}"))
}
