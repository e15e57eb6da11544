//! What must hold on every crash state, as pure functions over tree snapshots: the oracle lives
//! in the harness, not in the engine it judges. Kill and power-cut trials (`crash.rs`) and
//! recorded states (`recorded.rs`) judge the recovery from a crash by the same comparisons.

use std::ffi::OsStr;

use switchyard::{EngineFile, EngineName};

use super::crash::{describe_difference, engine_name_of, without_sidecars};
use crate::transcript::{Snapshot, SnapshotEntry};

/// The trees a crash state is judged against.
#[derive(Debug)]
pub(crate) struct Expected<'a> {
    /// The targets of the recorded step's plan.
    pub(crate) targets: &'a [String],
    /// Before the most recent apply: what recovery must bring back.
    pub(crate) prior: &'a Snapshot,
    /// Before the recorded step.
    pub(crate) before: &'a Snapshot,
    /// After the recorded step returned: what it committed.
    pub(crate) committed: &'a Snapshot,
}

/// The same object: equal in everything but the path it was found at.
fn same_object(a: &SnapshotEntry, b: &SnapshotEntry) -> bool {
    SnapshotEntry {
        path: String::new(),
        ..a.clone()
    } == SnapshotEntry {
        path: String::new(),
        ..b.clone()
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether `path` names an engine sidecar (kept after rollback on purpose).
pub(crate) fn is_sidecar(path: &str) -> bool {
    EngineName::parse(OsStr::new(file_name(path))).is_some_and(|n| n.file == EngineFile::Sidecar)
}

/// The engine files for `target` in `state`, of kind `file`.
fn engine_files<'s>(
    state: &'s Snapshot,
    target: &str,
    file: EngineFile,
) -> impl Iterator<Item = &'s SnapshotEntry> {
    let name = file_name(target).to_owned();
    state.values().filter(move |e| {
        EngineName::parse(OsStr::new(file_name(&e.path)))
            .is_some_and(|n| n.file == file && n.target == OsStr::new(&name))
    })
}

/// Every target exists and is exactly its object before the step, before the apply, or what
/// the step made of it (the planned link, or for a rollback the restored object).
pub(crate) fn targets_exact(exp: &Expected<'_>, state: &Snapshot) -> Option<String> {
    let problems: Vec<String> = exp
        .targets
        .iter()
        .filter_map(|target| {
            let now = state.get(target);
            let allowed = [exp.before, exp.prior, exp.committed].map(|s| s.get(target));
            if allowed.contains(&now) {
                return None;
            }
            Some(match now {
                None => format!("{target} is missing"),
                Some(e) => format!(
                    "{target} is a {} that is neither its prior object nor the planned one",
                    e.kind
                ),
            })
        })
        .collect();
    (!problems.is_empty()).then(|| problems.join(", "))
}

/// The prior object of every target can be recovered: it is in place, or a backup of it sits
/// beside a sidecar that describes it (for a target that was absent, the sidecar alone).
pub(crate) fn prior_recoverable(exp: &Expected<'_>, state: &Snapshot) -> Option<String> {
    let problems: Vec<String> = exp
        .targets
        .iter()
        .filter_map(|target| {
            let prior = exp.prior.get(target);
            if state.get(target) == prior {
                return None;
            }
            let sidecar = engine_files(state, target, EngineFile::Sidecar)
                .next()
                .is_some();
            let backup = match prior {
                None => true,
                Some(p) => {
                    engine_files(state, target, EngineFile::Backup).any(|b| same_object(b, p))
                }
            };
            match (sidecar, backup) {
                (true, true) => None,
                (false, _) => Some(format!(
                    "{target} is changed and no sidecar describes its prior object"
                )),
                (true, false) => Some(format!(
                    "{target} is changed and no backup holds its prior object"
                )),
            }
        })
        .collect();
    (!problems.is_empty()).then(|| problems.join(", "))
}

/// Durability: a state cut after the step's last flush shows exactly what the step committed.
pub(crate) fn durable(exp: &Expected<'_>, state: &Snapshot) -> Option<String> {
    let lost: Vec<String> = exp
        .committed
        .iter()
        .filter(|(path, entry)| state.get(*path) != Some(*entry))
        .map(|(path, _)| path.clone())
        .chain(
            state
                .keys()
                .filter(|p| !exp.committed.contains_key(*p))
                .cloned(),
        )
        .collect();
    (!lost.is_empty()).then(|| {
        format!(
            "after the last flush the tree is not what the step committed: {}",
            lost.join(", ")
        )
    })
}

/// After rollback the tree is exactly the prior one, sidecars (kept on purpose) aside.
pub(crate) fn restored(prior: &Snapshot, now: &Snapshot) -> Option<String> {
    // The directories of a backup store are the store's own layout, made durably before the
    // first sidecar in them: they stay, holding kept sidecars or (after a crash before any
    // sidecar was published) nothing. Anything else in them is still compared.
    let store_layout = |path: &String, kind: &str| {
        kind == "dir"
            && path.starts_with("@store/")
            && !prior.contains_key(path)
            && now
                .iter()
                .filter(|(p, _)| p.starts_with(&format!("{path}/")))
                .all(|(p, e)| e.kind == "dir" || is_sidecar(p))
    };
    let now: Snapshot = without_sidecars(now)
        .into_iter()
        .filter(|(p, e)| !store_layout(p, e.kind))
        .collect();
    let prior = without_sidecars(prior);
    (now != prior).then(|| describe_difference(&prior, &now))
}

/// After rollback nothing of the plan's is left but sidecars: no temporary file, backup or
/// partial copy (other plans' backups are still in use).
pub(crate) fn debris(targets: &[String], now: &Snapshot) -> Option<String> {
    let left: Vec<&String> = now
        .keys()
        .filter(|p| engine_name_of(p, targets).is_some_and(|f| f != EngineFile::Sidecar))
        .collect();
    (!left.is_empty()).then(|| format!("left behind: {left:?}"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn file(path: &str, sha: &str) -> SnapshotEntry {
        SnapshotEntry {
            path: path.to_owned(),
            kind: "file",
            mode: Some("0755".into()),
            uid: 0,
            gid: 0,
            dest: None,
            size: Some(1),
            sha256: Some(sha.to_owned()),
            xattrs: BTreeMap::new(),
        }
    }

    fn dir(path: &str) -> SnapshotEntry {
        SnapshotEntry {
            path: path.to_owned(),
            kind: "dir",
            mode: Some("0755".into()),
            uid: 0,
            gid: 0,
            dest: None,
            size: None,
            sha256: None,
            xattrs: BTreeMap::new(),
        }
    }

    fn link(path: &str, dest: &str) -> SnapshotEntry {
        SnapshotEntry {
            path: path.to_owned(),
            kind: "symlink",
            mode: None,
            uid: 0,
            gid: 0,
            dest: Some(dest.to_owned()),
            size: None,
            sha256: None,
            xattrs: BTreeMap::new(),
        }
    }

    fn snap(entries: &[SnapshotEntry]) -> Snapshot {
        entries
            .iter()
            .map(|e| (e.path.clone(), e.clone()))
            .collect()
    }

    struct Trees {
        targets: Vec<String>,
        prior: Snapshot,
        committed: Snapshot,
    }

    fn trees() -> Trees {
        Trees {
            targets: vec!["bin/ls".into()],
            prior: snap(&[file("bin/ls", "gnu")]),
            committed: snap(&[
                link("bin/ls", "../opt/ls"),
                file("bin/.ls.switchyard.1.bak", "gnu"),
                file("bin/.ls.switchyard.1.json", "side"),
            ]),
        }
    }

    fn expected(t: &Trees) -> Expected<'_> {
        Expected {
            targets: &t.targets,
            prior: &t.prior,
            before: &t.prior,
            committed: &t.committed,
        }
    }

    #[test]
    fn the_committed_state_passes_everything() {
        let t = trees();
        let e = expected(&t);
        assert_eq!(targets_exact(&e, &t.committed), None);
        assert_eq!(prior_recoverable(&e, &t.committed), None);
        assert_eq!(durable(&e, &t.committed), None);
        assert_eq!(targets_exact(&e, &t.prior), None);
        assert_eq!(prior_recoverable(&e, &t.prior), None);
    }

    #[test]
    fn a_missing_target_or_a_foreign_link_fails() {
        let t = trees();
        let e = expected(&t);
        let missing = snap(&[file("bin/.ls.switchyard.1.bak", "gnu")]);
        assert_eq!(targets_exact(&e, &missing).unwrap(), "bin/ls is missing");
        let foreign = snap(&[link("bin/ls", "elsewhere")]);
        assert!(targets_exact(&e, &foreign).is_some());
    }

    #[test]
    fn a_link_without_sidecar_or_backup_is_not_recoverable() {
        let t = trees();
        let e = expected(&t);
        let no_sidecar = snap(&[
            link("bin/ls", "../opt/ls"),
            file("bin/.ls.switchyard.1.bak", "gnu"),
        ]);
        assert!(
            prior_recoverable(&e, &no_sidecar)
                .unwrap()
                .contains("no sidecar")
        );
        let wrong_backup = snap(&[
            link("bin/ls", "../opt/ls"),
            file("bin/.ls.switchyard.1.bak", "other"),
            file("bin/.ls.switchyard.1.json", "side"),
        ]);
        assert!(
            prior_recoverable(&e, &wrong_backup)
                .unwrap()
                .contains("no backup")
        );
    }

    #[test]
    fn durability_names_what_the_last_flush_lost() {
        let t = trees();
        let e = expected(&t);
        let lost_swap = snap(&[
            file("bin/ls", "gnu"),
            file("bin/.ls.switchyard.1.json", "side"),
        ]);
        let problem = durable(&e, &lost_swap).unwrap();
        assert!(
            problem.contains("bin/ls") && problem.contains(".bak"),
            "{problem}"
        );
    }

    #[test]
    fn a_restored_tree_may_keep_sidecars_and_the_stores_own_directories() {
        let prior = snap(&[file("usr/bin/ls", "gnu")]);
        let kept = snap(&[
            file("usr/bin/ls", "gnu"),
            file("usr/bin/.ls.switchyard.1.json", "side"),
            dir("@store/usr"),
            dir("@store/usr/bin"),
            file("@store/usr/bin/.ls.switchyard.2.json", "side"),
        ]);
        assert_eq!(restored(&prior, &kept), None);
        assert_eq!(debris(&["usr/bin/ls".to_owned()], &kept), None);
    }

    #[test]
    fn anything_else_in_the_store_or_beside_the_target_is_not_restored() {
        let prior = snap(&[file("usr/bin/ls", "gnu")]);
        let copy_left = snap(&[
            file("usr/bin/ls", "gnu"),
            dir("@store/usr"),
            dir("@store/usr/bin"),
            file("@store/usr/bin/.ls.switchyard.1.bak", "gnu"),
        ]);
        let problem = restored(&prior, &copy_left).unwrap();
        assert!(
            problem.contains("@store/usr/bin should not exist")
                && problem.contains(".ls.switchyard.1.bak should not exist"),
            "{problem}"
        );
        let left = debris(&["usr/bin/ls".to_owned()], &copy_left).unwrap();
        assert!(left.contains(".ls.switchyard.1.bak"), "{left}");
        let stray = snap(&[file("usr/bin/ls", "gnu"), file("usr/bin/extra", "x")]);
        assert!(restored(&prior, &stray).is_some());
    }
}
