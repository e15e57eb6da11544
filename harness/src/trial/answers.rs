//! The engine's answers against the tree: what apply and rollback return must match what the
//! step did to the targets.
//!
//! A caller acts on these reports (an installer that prints "3 restored" or retries), so a
//! count that disagrees with the disk is a failure even when the tree itself is right.

use std::path::{Path, PathBuf};

use switchyard::{ApplyReport, Kind, Plan, RollbackReport};

use crate::transcript::{Snapshot, SnapshotEntry};

/// Maps a target as the engine names it (`bin/ls`, through a merged-/usr `bin -> usr/bin`) to
/// the entry the tree snapshot holds (`usr/bin/ls`).
#[derive(Debug)]
pub(crate) struct Keys {
    root: Option<PathBuf>,
}

impl Keys {
    pub(crate) fn new(root: &Path) -> Keys {
        Keys {
            root: root.canonicalize().ok(),
        }
    }

    fn key(&self, rel: &str) -> String {
        let rel_path = Path::new(rel);
        let resolved = self.root.as_ref().and_then(|root| {
            let parent = in_root(root, rel_path.parent()?)?;
            Some(parent.join(rel_path.file_name()?))
        });
        resolved.map_or_else(|| rel.to_owned(), |p| p.to_string_lossy().into_owned())
    }
}

/// `dir` (relative to `root`) with every symlink resolved inside the root, as the engine
/// resolves parents (`RESOLVE_IN_ROOT`: an absolute link starts again at the root, `..` stops
/// there), relative to the root. `None` when a component is missing or links loop.
fn in_root(root: &Path, dir: &Path) -> Option<PathBuf> {
    const MAX_LINKS: usize = 40;
    let mut todo: Vec<std::ffi::OsString> =
        dir.iter().rev().map(std::ffi::OsStr::to_owned).collect();
    let mut at = PathBuf::new();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        match part.to_str() {
            Some("" | ".") => continue,
            Some("..") => {
                at.pop();
                continue;
            }
            _ => {}
        }
        let next = at.join(&part);
        let meta = std::fs::symlink_metadata(root.join(&next)).ok()?;
        if !meta.file_type().is_symlink() {
            at = next;
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return None;
        }
        let dest = std::fs::read_link(root.join(&next)).ok()?;
        if dest.is_absolute() {
            at = PathBuf::new();
        }
        todo.extend(
            dest.iter()
                .filter(|c| *c != std::ffi::OsStr::new("/"))
                .map(std::ffi::OsStr::to_owned)
                .collect::<Vec<_>>()
                .into_iter()
                .rev(),
        );
    }
    Some(at)
}

fn kind(entry: Option<&SnapshotEntry>) -> Kind {
    match entry.map(|e| e.kind) {
        None => Kind::None,
        Some("symlink") => Kind::Symlink,
        Some(_) => Kind::File,
    }
}

/// A committed apply: each action's `changed`, `before` and `after` are what the tree shows.
pub(crate) fn apply(
    report: &ApplyReport,
    keys: &Keys,
    before: &Snapshot,
    after: &Snapshot,
) -> Vec<String> {
    let mut problems = Vec::new();
    for action in &report.actions {
        let key = keys.key(&action.target);
        let (was, now) = (before.get(&key), after.get(&key));
        let changed = was != now;
        if action.changed != changed {
            problems.push(format!(
                "apply reports {} changed={}, but the tree shows changed={changed}",
                action.target, action.changed
            ));
        }
        if (action.before, action.after) != (kind(was), kind(now)) {
            problems.push(format!(
                "apply reports {} {} -> {}, but the tree shows {} -> {}",
                action.target,
                action.before,
                action.after,
                kind(was),
                kind(now)
            ));
        }
    }
    problems
}

/// A rollback: `restored` is the number of targets it changed, and with `unchanged` it accounts
/// for every action of the plan.
pub(crate) fn rollback(
    report: &RollbackReport,
    plan: &Plan,
    keys: &Keys,
    before: &Snapshot,
    after: &Snapshot,
) -> Vec<String> {
    let changed = plan
        .actions()
        .iter()
        .map(|a| keys.key(&a.target().display_rel()))
        .filter(|t| before.get(t) != after.get(t))
        .count();
    let mut problems = Vec::new();
    if report.restored != changed {
        problems.push(format!(
            "rollback reports {} restored, but the tree shows {changed} targets changed",
            report.restored
        ));
    }
    if report.restored + report.unchanged != plan.actions().len() {
        problems.push(format!(
            "rollback reports {} restored and {} unchanged for a plan of {} actions",
            report.restored,
            report.unchanged,
            plan.actions().len()
        ));
    }
    problems
}
