//! The crash windows: what the tree must look like while the engine is stopped at each crash
//! point, as a pure function over snapshots. It lives in the harness, not beside the crash points
//! in the engine, so a crash point moved to the wrong place fails its trials instead of moving
//! the oracle with it.
//!
//! For an action on target `T` (generation `g`: `T`'s newest sidecar) with prior object `P`:
//!
//! | point                       | `T`          | `.T.switchyard.g.tmp` | `.T.switchyard.g.bak` |
//! |-----------------------------|--------------|-----------------------|-----------------------|
//! | `apply.after_temp_link`     | `P`          | a symlink             | absent                |
//! | `apply.after_swap`          | the new link | `P` (absent if none)  | absent                |
//! | `apply.after_backup_rename` | the new link | absent                | `P`                   |
//! | `rollback.after_restore`    | `P`          | the displaced link under one of the two names |
//! | `rollback.after_unlink`     | `P`          | absent                | absent                |
//!
//! where for a rollback `P` is the tree before the apply being undone. Actions before `T` in the
//! engine's order are done, those after it untouched. The plan-wide points: after the sidecars
//! nothing but new sidecars has changed; after the final sync every action is done.

use std::ffi::OsStr;

use switchyard::crash::{CrashPoint, Phase};
use switchyard::{EngineFile, EngineName};

use crate::transcript::{Snapshot, SnapshotEntry};

/// A target of the crashed step's plan, in the engine's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PlanTarget {
    /// As the plan names it (what crash points report).
    pub(crate) rel: String,
    /// Its real path in snapshots (its parent resolved).
    pub(crate) path: String,
    /// The snapshot directory of its sidecars and backups: its own, or its mirror in the store.
    pub(crate) slot: String,
    /// A restore request (whose prior state comes from an older plan), not a link.
    pub(crate) restore: bool,
}

/// Where a step stopped and what the tree looked like around it.
#[derive(Debug)]
pub(crate) struct Stop<'a> {
    pub(crate) point: CrashPoint,
    pub(crate) target: Option<&'a str>,
    /// The phase of the step that crashed (a rollback point can fire inside an apply's undo).
    pub(crate) step: Phase,
    pub(crate) targets: &'a [PlanTarget],
    /// The tree before the step.
    pub(crate) before: &'a Snapshot,
    /// The tree before the apply a rollback undoes.
    pub(crate) baseline: &'a Snapshot,
    /// The tree while the engine was stopped.
    pub(crate) at: &'a Snapshot,
}

/// `None` when the tree is in the window the point names; otherwise what is out of place.
pub(crate) fn check(stop: &Stop<'_>) -> Option<String> {
    let mut problems = Vec::new();
    match stop.target {
        None => plan_wide(stop, &mut problems),
        Some(rel) => match stop.targets.iter().position(|t| t.rel == rel) {
            None => problems.push(format!("{rel} is not a target of the plan")),
            Some(i) => action(stop, i, &mut problems),
        },
    }
    (!problems.is_empty()).then(|| format!("at {}: {}", stop.point, problems.join(", ")))
}

/// Equal but for the path: the same object under another name.
fn same(a: Option<&SnapshotEntry>, b: Option<&SnapshotEntry>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            (
                a.kind, &a.mode, a.uid, a.gid, &a.dest, a.size, &a.sha256, &a.xattrs,
            ) == (
                b.kind, &b.mode, b.uid, b.gid, &b.dest, b.size, &b.sha256, &b.xattrs,
            )
        }
        _ => false,
    }
}

fn is_link(entry: Option<&SnapshotEntry>) -> bool {
    entry.is_some_and(|e| e.kind == "symlink")
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// The engine's names of one generation of a target.
struct Names {
    temp: String,
    backup: String,
}

/// The names of `t`'s newest generation in `snap` (the one a step works on), if it has one.
fn newest(snap: &Snapshot, t: &PlanTarget) -> Option<(u32, Names)> {
    let (dir, name) = split(&t.path);
    let generation = snap
        .keys()
        .filter_map(|p| {
            let (d, n) = split(p);
            let parsed = EngineName::parse(OsStr::new(n))?;
            (d == t.slot && parsed.file == EngineFile::Sidecar && parsed.target == OsStr::new(name))
                .then_some(parsed.generation)
        })
        .max()?;
    let names = Names {
        temp: join(dir, &format!(".{name}.switchyard.{generation}.tmp")),
        backup: join(&t.slot, &format!(".{name}.switchyard.{generation}.bak")),
    };
    Some((generation, names))
}

fn plan_wide(stop: &Stop<'_>, problems: &mut Vec<String>) {
    let (before, at) = (stop.before, stop.at);
    match stop.point {
        CrashPoint::ApplyAfterSidecars => {
            for t in stop.targets {
                untouched(stop, t, problems);
            }
            let sidecars = |s: &Snapshot| {
                s.keys()
                    .filter(|p| {
                        EngineName::parse(OsStr::new(split(p).1))
                            .is_some_and(|n| n.file == EngineFile::Sidecar)
                    })
                    .count()
            };
            if sidecars(at) <= sidecars(before) {
                problems.push("no new sidecar is written".to_owned());
            }
        }
        CrashPoint::ApplyAfterFsync => {
            for t in stop.targets {
                applied(stop, t, problems);
            }
        }
        CrashPoint::RollbackAfterFsync => {
            for t in stop.targets {
                restored(stop, t, problems);
            }
        }
        other => problems.push(format!("{other} names no target")),
    }
}

fn action(stop: &Stop<'_>, i: usize, problems: &mut Vec<String>) {
    let t = &stop.targets[i];
    let in_apply = stop.step == Phase::Apply;
    // A rollback point inside an apply undoes that apply's own change; a restore request's prior
    // state comes from an older plan the snapshots here do not show.
    let prior_snapshot = if in_apply { stop.before } else { stop.baseline };
    let prior = prior_snapshot.get(&t.path);
    let now = stop.at.get(&t.path);
    let Some((_, names)) = newest(stop.at, t) else {
        problems.push(format!("{} has no sidecar", t.rel));
        return;
    };
    let temp = stop.at.get(&names.temp);
    let backup = stop.at.get(&names.backup);
    let mut want = |ok: bool, what: &str| {
        if !ok {
            problems.push(format!("{} {what}", t.rel));
        }
    };
    match stop.point {
        CrashPoint::ApplyAfterTempLink => {
            want(same(now, prior), "is not its prior object");
            want(is_link(temp), "has no temporary link");
            want(backup.is_none(), "has a backup already");
        }
        CrashPoint::ApplyAfterSwap => {
            want(is_link(now) && !same(now, prior), "is not the new link");
            want(
                same(temp, prior),
                "has not its prior object under the temporary name",
            );
            want(backup.is_none(), "has a backup already");
        }
        CrashPoint::ApplyAfterBackupRename => {
            want(is_link(now) && !same(now, prior), "is not the new link");
            want(temp.is_none(), "still has its temporary name");
            want(
                same(backup, prior),
                "has not its prior object under the backup name",
            );
        }
        CrashPoint::RollbackAfterRestore if !t.restore => {
            want(same(now, prior), "is not its prior object again");
            let placed = stop.before.get(&t.path);
            if prior.is_some() && !in_apply {
                want(
                    same(temp, placed) || same(backup, placed),
                    "has not the displaced link under the temporary or backup name",
                );
            }
        }
        CrashPoint::RollbackAfterUnlink if !t.restore => {
            want(same(now, prior), "is not its prior object again");
            want(temp.is_none(), "still has its temporary name");
            want(backup.is_none(), "still has its backup name");
        }
        CrashPoint::RollbackAfterRestore | CrashPoint::RollbackAfterUnlink => {}
        other => problems.push(format!("{other} is plan-wide, not of {}", t.rel)),
    }
    // The engine applies in plan order and rolls back in reverse; an apply's undo follows no
    // such order.
    let done_before = match (stop.step, stop.point.phase()) {
        (Phase::Apply, Phase::Apply) => true,
        (Phase::Rollback, Phase::Rollback) => false,
        _ => return,
    };
    for (j, other) in stop.targets.iter().enumerate() {
        if j == i {
            continue;
        }
        match (j < i) == done_before {
            true if done_before => applied(stop, other, problems),
            true => restored(stop, other, problems),
            false => untouched(stop, other, problems),
        }
    }
}

/// As before the step.
fn untouched(stop: &Stop<'_>, t: &PlanTarget, problems: &mut Vec<String>) {
    if !same(stop.at.get(&t.path), stop.before.get(&t.path)) {
        problems.push(format!("{} is no longer as before the step", t.rel));
    }
    if let Some((_, names)) = newest(stop.at, t)
        && stop.at.contains_key(&names.temp)
        && !stop.before.contains_key(&names.temp)
    {
        problems.push(format!("{} has a temporary link already", t.rel));
    }
}

/// The apply's link in place, its prior object under the backup name.
fn applied(stop: &Stop<'_>, t: &PlanTarget, problems: &mut Vec<String>) {
    let prior = stop.before.get(&t.path);
    let now = stop.at.get(&t.path);
    if !is_link(now) {
        problems.push(format!("{} is not linked yet", t.rel));
        return;
    }
    let generation = |snap: &Snapshot| newest(snap, t).map(|(g, _)| g);
    let changes = generation(stop.at) > generation(stop.before);
    if same(now, prior) {
        // Already the link before the step (no new sidecar): nothing to do for it.
        if changes {
            problems.push(format!("{} is not linked yet", t.rel));
        }
        return;
    }
    if let Some((_, names)) = newest(stop.at, t) {
        if stop.at.contains_key(&names.temp) {
            problems.push(format!("{} still has its temporary name", t.rel));
        }
        if prior.is_some() && !same(stop.at.get(&names.backup), prior) {
            problems.push(format!("{} has not its prior object backed up", t.rel));
        }
    }
}

/// The prior object back in place, no temporary or backup name left.
fn restored(stop: &Stop<'_>, t: &PlanTarget, problems: &mut Vec<String>) {
    if !same(stop.at.get(&t.path), stop.baseline.get(&t.path)) {
        problems.push(format!("{} is not restored yet", t.rel));
    }
    if let Some((_, names)) = newest(stop.at, t)
        && (stop.at.contains_key(&names.temp) || stop.at.contains_key(&names.backup))
    {
        problems.push(format!("{} still has its temporary or backup name", t.rel));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn entry(path: &str, kind: &'static str, what: &str) -> (String, SnapshotEntry) {
        let e = SnapshotEntry {
            path: path.to_owned(),
            kind,
            mode: (kind == "file").then(|| "0755".to_owned()),
            uid: 0,
            gid: 0,
            dest: (kind == "symlink").then(|| what.to_owned()),
            size: None,
            sha256: (kind == "file").then(|| what.to_owned()),
            xattrs: BTreeMap::new(),
        };
        (path.to_owned(), e)
    }

    fn snap(entries: &[(&str, &'static str, &str)]) -> Snapshot {
        entries.iter().map(|(p, k, w)| entry(p, k, w)).collect()
    }

    fn targets() -> Vec<PlanTarget> {
        ["usr/bin/dir", "usr/bin/ls"]
            .into_iter()
            .map(|t| PlanTarget {
                rel: t.to_owned(),
                path: t.to_owned(),
                slot: "usr/bin".to_owned(),
                restore: false,
            })
            .collect()
    }

    const BEFORE: &[(&str, &str, &str)] = &[
        ("usr/bin/dir", "symlink", "ls"),
        ("usr/bin/ls", "file", "gnu"),
    ];

    fn at_ls(point: CrashPoint, at: &Snapshot) -> Option<String> {
        let (before, targets) = (snap(BEFORE), targets());
        check(&Stop {
            point,
            target: Some("usr/bin/ls"),
            step: Phase::Apply,
            targets: &targets,
            before: &before,
            baseline: &before,
            at,
        })
    }

    /// `usr/bin/dir` is done; `usr/bin/ls` stands between its temporary link and the exchange.
    fn after_temp_link_of_ls() -> Snapshot {
        snap(&[
            ("usr/bin/.dir.switchyard.1.bak", "symlink", "ls"),
            ("usr/bin/.dir.switchyard.1.json", "file", "sidecar"),
            ("usr/bin/.ls.switchyard.1.json", "file", "sidecar"),
            ("usr/bin/.ls.switchyard.1.tmp", "symlink", "../../opt/ls"),
            ("usr/bin/dir", "symlink", "../../opt/dir"),
            ("usr/bin/ls", "file", "gnu"),
        ])
    }

    #[test]
    fn the_state_after_the_temporary_link_is_that_window_and_no_other() {
        let at = after_temp_link_of_ls();
        assert_eq!(at_ls(CrashPoint::ApplyAfterTempLink, &at), None);
        let wrong = at_ls(CrashPoint::ApplyAfterSwap, &at).unwrap();
        assert!(wrong.contains("usr/bin/ls is not the new link"), "{wrong}");
        let wrong = at_ls(CrashPoint::ApplyAfterBackupRename, &at).unwrap();
        assert!(wrong.contains("still has its temporary name"), "{wrong}");
    }

    #[test]
    fn an_earlier_action_not_done_is_out_of_the_window() {
        let mut at = after_temp_link_of_ls();
        at.extend([entry("usr/bin/dir", "symlink", "ls")]);
        at.remove("usr/bin/.dir.switchyard.1.bak");
        let wrong = at_ls(CrashPoint::ApplyAfterTempLink, &at).unwrap();
        assert!(wrong.contains("usr/bin/dir"), "{wrong}");
    }
}
