//! Verdicts that make a scenario's claims checkable in its transcript without recording
//! anything that varies between filesystems or runs: whether a rolled-back target is the very
//! inode it was before the first apply (not a copy), and whether a commit refused for the lock
//! waited its bound first. Inode numbers and wait times stay out; only the booleans go in.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use rustix::fs::{AtFlags, CWD, StatxFlags, statx};
use rustix::io::Errno;
use serde_json::{Value, json};
use switchyard::{ErrorId, Fact};

/// How far past its bound a lock wait may run and still count as waiting its bound: the
/// engine polls, and a loaded machine schedules late.
const LOCK_WAIT_SLACK: Duration = Duration::from_secs(5);

/// What names one inode over time: device, inode number and birth time. A freed inode number
/// is reused at once on some filesystems (a copy put back where the original was deleted gets
/// its number on ext4 and xfs); the birth time tells the two apart.
type Identity = (u32, u32, u64, i64, u32);

/// The identity each target had when it was recorded: before the first apply that named it
/// (the plain rollback verdicts), or at a crash trial's baseline (recovery from the crash).
#[derive(Debug, Default)]
pub(super) struct PriorInodes(BTreeMap<String, Identity>);

impl PriorInodes {
    /// Records the targets that exist now and were not recorded yet (symlinks not followed).
    pub(super) fn record<'a>(
        &mut self,
        root: &Path,
        targets: impl Iterator<Item = &'a str>,
    ) -> io::Result<()> {
        for target in targets.map(key) {
            if self.0.contains_key(&target) {
                continue;
            }
            if let Some(id) = identity(&root.join(&target))? {
                self.0.insert(target, id);
            }
        }
        Ok(())
    }

    /// Those of `targets` recorded that are not their recorded inode now (a copy of it, another
    /// object, or nothing). Inode number and birth time only: a name can only hold an inode of its
    /// own directory's filesystem, and the device a filesystem shows may change between two
    /// mounts of it (a recorded crash state is mounted from a new loop device each time).
    pub(super) fn not_prior<'t>(
        &self,
        root: &Path,
        targets: &'t [String],
    ) -> io::Result<Vec<&'t str>> {
        let inode = |id: &Identity| (id.2, id.3, id.4);
        let mut changed = Vec::new();
        for target in targets {
            let Some(before) = self.0.get(&key(target)) else {
                continue;
            };
            if identity(&root.join(target))?.as_ref().map(inode) != Some(inode(before)) {
                changed.push(target.as_str());
            }
        }
        Ok(changed)
    }

    /// One line per recorded target: whether it is the same inode now.
    pub(super) fn verdicts(&self, root: &Path) -> io::Result<Vec<Value>> {
        self.0
            .iter()
            .map(|(target, before)| {
                let same = identity(&root.join(target))?.as_ref() == Some(before);
                Ok(json!({"target": target, "same_inode_as_before": same}))
            })
            .collect()
    }
}

/// A target as the engine names it (`.` and repeated separators dropped), whether a scenario or
/// a plan spells it, so that both find the same record.
fn key(target: &str) -> String {
    Path::new(target)
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect::<PathBuf>()
        .to_string_lossy()
        .into_owned()
}

fn identity(path: &Path) -> io::Result<Option<Identity>> {
    let wanted = StatxFlags::INO | StatxFlags::BTIME;
    match statx(CWD, path, AtFlags::SYMLINK_NOFOLLOW, wanted) {
        Ok(st) if StatxFlags::from_bits_retain(st.stx_mask).contains(wanted) => Ok(Some((
            st.stx_dev_major,
            st.stx_dev_minor,
            st.stx_ino,
            st.stx_btime.tv_sec,
            st.stx_btime.tv_nsec,
        ))),
        Ok(_) => Err(io::Error::other(format!(
            "{}: the filesystem reports no birth time, which tells a reused inode number from \
             the original",
            path.display()
        ))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// For a step refused for the lock: whether it waited its bound first, as the engine reports
/// (`lock_wait_ms`, which the canonical facts leave out) and as the harness measured (`took`).
/// `None` when the step was not refused for the lock (a step that got its lock reports its wait
/// too, and has nothing to prove about a bound).
pub(super) fn lock_wait(facts: &[Fact], bound: Duration, took: Duration) -> Option<Value> {
    let waited = facts
        .iter()
        .filter(|f| f.error_id == Some(ErrorId::Locking))
        .find_map(|f| f.lock_wait_ms)?;
    Some(
        json!({"waited_within_bound": waited_its_bound(Duration::from_millis(waited), bound, took)}),
    )
}

fn waited_its_bound(reported: Duration, bound: Duration, took: Duration) -> bool {
    reported >= bound && reported <= bound + LOCK_WAIT_SLACK && took >= bound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_put_back_under_the_name_is_not_the_prior_inode() {
        let root = Path::new("/tmp/fsmatrix-unit-tests/verdicts");
        let _ = std::fs::remove_dir_all(root);
        std::fs::create_dir_all(root.join("bin")).unwrap();
        for name in ["ls", "cat"] {
            std::fs::write(root.join("bin").join(name), "GNU\n").unwrap();
        }
        let mut prior = PriorInodes::default();
        prior
            .record(root, ["./bin/ls", "bin//cat", "bin/absent"].into_iter())
            .unwrap();
        let targets = ["bin/ls", "bin/cat", "bin/absent"].map(str::to_owned);
        assert_eq!(prior.not_prior(root, &targets).unwrap(), Vec::<&str>::new());
        // Equal bytes under the same name, but a new inode: a copy renamed over the original.
        std::fs::write(root.join("bin/.ls.copy"), "GNU\n").unwrap();
        std::fs::rename(root.join("bin/.ls.copy"), root.join("bin/ls")).unwrap();
        assert_eq!(prior.not_prior(root, &targets).unwrap(), ["bin/ls"]);
    }

    #[test]
    fn a_wait_counts_only_from_its_bound_to_the_slack_past_it() {
        let ms = Duration::from_millis;
        let bound = ms(200);
        assert!(waited_its_bound(ms(200), bound, ms(201)));
        assert!(waited_its_bound(ms(5200), bound, ms(5300)));
        assert!(!waited_its_bound(ms(0), bound, ms(1)), "gave up at once");
        assert!(!waited_its_bound(ms(199), bound, ms(250)), "reported short");
        assert!(!waited_its_bound(ms(250), bound, ms(10)), "returned early");
        assert!(
            !waited_its_bound(ms(5201), bound, ms(5300)),
            "waited far past"
        );
    }
}
