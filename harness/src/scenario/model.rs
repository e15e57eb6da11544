//! The typed scenario: what a scenario file means once it is loaded and validated.
//!
//! Plain data. The loader guarantees the invariants written on each type, so the code that runs a
//! scenario matches on these values and never re-checks them. Paths in `tree`, `check`, `write`
//! and `fault: { immutable }` are relative to the scenario root, non-empty, and free of `.`, `..`
//! and empty components; link and restore requests are kept as written, because rejecting a bad
//! request is the engine's job and scenarios test that it does.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU64;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use switchyard::ErrorId;
use switchyard::crash::{CrashPoint, Phase};

use super::error::Position;
use crate::fs_kind::FsKind;

/// One scenario file, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The file stem: `scenarios/swap-file.yaml` is `swap-file`.
    pub name: String,
    pub file: PathBuf,
    pub description: String,
    /// The requirements the scenario proves, as written (`proves:`); `None` when the key is left
    /// out. Ids are checked against the requirements file by [`crate::trace`], not by the loader.
    pub proves: Option<Vec<RequirementRef>>,
    /// `None`: every filesystem of the run. `Some`: this declared scope, without duplicates, in
    /// [`FsKind::ALL`] order. It narrows the run (is not all five) exactly when `why` is `Some`.
    pub filesystems: Option<Vec<FsKind>>,
    /// Why `filesystems` leaves some filesystems out; shown in reports.
    pub why: Option<String>,
    pub policy: PolicySpec,
    /// The starting tree. Parents of every path are implied directories; no path lies below an
    /// entry that is not a directory.
    pub tree: BTreeMap<String, Entry>,
    /// At least one. Only the last step may carry a crash.
    pub steps: Vec<Step>,
}

impl Scenario {
    /// The filesystems of `run` this scenario covers, in the run's order.
    pub fn filesystems_in(&self, run: &[FsKind]) -> Vec<FsKind> {
        run.iter()
            .copied()
            .filter(|kind| {
                self.filesystems
                    .as_ref()
                    .is_none_or(|scope| scope.contains(kind))
            })
            .collect()
    }

    /// The crash trials this scenario asks for: those of its last step, the only one that may
    /// carry `crash`.
    pub fn crash(&self) -> Option<&CrashSpec> {
        match self.steps.last()? {
            Step::Apply(apply) => apply.crash.as_ref(),
            Step::Rollback(rollback) => rollback.crash.as_ref(),
            _ => None,
        }
    }
}

/// A requirement id named by a scenario, with where it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequirementRef {
    pub id: String,
    pub position: Option<Position>,
}

/// The engine policy a scenario runs under: a preset plus the settings it overrides.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicySpec {
    pub preset: Preset,
    pub overrides: PolicyOverrides,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    #[default]
    Production,
    Permissive,
}

impl Preset {
    pub const ALL: [Preset; 2] = [Preset::Production, Preset::Permissive];

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Production => "production",
            Preset::Permissive => "permissive",
        }
    }
}

/// Settings that replace the preset's; `None` keeps the preset's value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyOverrides {
    pub link_style: Option<LinkStyle>,
    pub require_lock: Option<bool>,
    pub require_rescue: Option<bool>,
    pub require_smoke: Option<bool>,
    pub auto_rollback: Option<bool>,
    pub allow_degraded: Option<bool>,
    /// `false`: the engine gets no lock manager (to show that production refuses to commit).
    pub lock_manager: Option<bool>,
    pub lock_timeout_ms: Option<u64>,
    /// `false`: the engine gets no smoke runner (to show that production refuses to commit).
    pub smoke_runner: Option<bool>,
    pub smoke_timeout_ms: Option<u64>,
    pub smoke_args: Option<Vec<String>>,
    pub backup_store: Option<BackupStore>,
}

/// How the engine writes link destinations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStyle {
    Relative,
    Absolute,
}

impl LinkStyle {
    pub const NAMES: &[&str] = &["relative", "absolute"];
}

/// Where the engine keeps backups of replaced objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupStore {
    /// Beside the target, under the backup name.
    Inline,
    /// In a backup directory on the scenario's filesystem.
    SameFilesystem,
    /// In a backup directory on a second, real filesystem (the degraded copy path).
    SecondFilesystem,
}

impl BackupStore {
    pub const NAMES: &[&str] = &["inline", "same_filesystem", "second_filesystem"];
}

/// An object in the starting tree, or one a `write` step puts in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    /// `None`: the fixture's default. Never set on a symlink.
    pub mode: Option<Mode>,
    pub owner: Option<Owner>,
    /// `user.*` extended attributes, name to value. Always empty on a symlink.
    pub xattrs: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File {
        content: String,
    },
    /// The destination is link text, kept as written.
    Symlink {
        destination: String,
    },
    Dir,
}

/// Permission bits, including setuid, setgid and sticky: at most `0o7777`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mode(u32);

impl Mode {
    /// `None` for bits beyond `0o7777`.
    pub fn new(bits: u32) -> Option<Mode> {
        (bits <= 0o7777).then_some(Mode(bits))
    }

    pub fn bits(self) -> u32 {
        self.0
    }
}

/// Four octal digits, as in `0755` or `4755`.
impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

/// Numeric owner of an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Apply(ApplyStep),
    Rollback(RollbackStep),
    /// Compares exactly the named paths, and of each only what the entry names.
    Check(BTreeMap<String, CheckEntry>),
    /// Changes the tree as a package manager or an admin would.
    Write(BTreeMap<String, WriteEntry>),
    Fault(Fault),
    /// Undoes a fault injected by an earlier step.
    Clear(Fault),
    Prune(PruneStep),
}

impl Step {
    /// The key that introduces this step in a scenario file.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Apply(_) => "apply",
            Step::Rollback(_) => "rollback",
            Step::Check(_) => "check",
            Step::Write(_) => "write",
            Step::Fault(_) => "fault",
            Step::Clear(_) => "clear",
            Step::Prune(_) => "prune",
        }
    }
}

/// An apply of link and restore requests. At least one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyStep {
    pub link: Vec<LinkRequest>,
    /// Targets to restore from their backups.
    pub restore: Vec<String>,
    pub mode: ApplyMode,
    /// The error the engine must report; `None`: the apply must succeed.
    pub expect: Option<ErrorId>,
    /// Only with [`ApplyMode::Commit`]; its phase is [`Phase::Apply`].
    pub crash: Option<CrashSpec>,
}

/// Replace `target` with a symlink to `source`. Both as written in the file, unchecked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkRequest {
    pub source: String,
    pub target: String,
}

/// Scenario steps commit unless they say otherwise (the engine's own default is a dry run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyMode {
    #[default]
    Commit,
    DryRun,
}

impl ApplyMode {
    pub const NAMES: &[&str] = &["commit", "dry_run"];
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RollbackStep {
    pub expect: Option<ErrorId>,
    /// Restore even over drift.
    pub force: bool,
    /// Its phase is [`Phase::Rollback`].
    pub crash: Option<CrashSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PruneStep {
    /// How many of the newest backups to keep.
    pub keep: NonZeroU64,
    pub expect: Option<ErrorId>,
}

/// What a `check` step expects at a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckEntry {
    /// Nothing exists at the path.
    Absent,
    /// Something exists, with at least these properties.
    Present(PartialEntry),
}

/// The properties a check compares; `None` is not compared. At least one is `Some`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartialEntry {
    pub kind: Option<EntryKind>,
    pub mode: Option<Mode>,
    pub owner: Option<Owner>,
    /// `Some`: the object's `user.*` xattrs are exactly these.
    pub xattrs: Option<BTreeMap<String, String>>,
}

/// What a `write` step does at a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteEntry {
    /// Replace whatever is there with this object.
    Put(Entry),
    /// Remove whatever is there.
    Remove,
}

/// A fault injected into the trial's filesystem or its processes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Fill the filesystem.
    Fill,
    /// Remount the filesystem read-only.
    ReadOnly,
    /// Another process holds the engine's lock.
    HoldLock,
    /// `chattr +i` on this path.
    Immutable(String),
    /// `renameat2(RENAME_EXCHANGE)` fails with `EINVAL`, as where the filesystem lacks it.
    NoExchange,
    /// `openat(O_TMPFILE)` fails with `EOPNOTSUPP`, as where the filesystem lacks it.
    NoTmpfile,
}

impl Fault {
    /// The faults written as a bare name; `immutable` takes a path.
    pub const NAMES: &[&str] = &[
        "fill",
        "read_only",
        "hold_lock",
        "no_exchange",
        "no_tmpfile",
    ];
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Fill => f.write_str("fill"),
            Fault::ReadOnly => f.write_str("read_only"),
            Fault::NoExchange => f.write_str("no_exchange"),
            Fault::NoTmpfile => f.write_str("no_tmpfile"),
            Fault::HoldLock => f.write_str("hold_lock"),
            Fault::Immutable(path) => write!(f, "{{ immutable: {path} }}"),
        }
    }
}

/// Crash trials: one per occurrence of a chosen crash point (a point and the action that reaches
/// it, as a probe run of the step records them) and method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashSpec {
    /// The phase of the step that carries it; every point belongs to it.
    pub phase: Phase,
    pub at: CrashAt,
    /// At least one, no duplicates.
    pub how: Vec<CrashMethod>,
}

impl CrashSpec {
    /// Whether the trials crash at `point` (every time a step reaches it).
    pub fn selects(&self, point: CrashPoint) -> bool {
        match &self.at {
            CrashAt::Every => true,
            CrashAt::Points(points) => points.contains(&point),
        }
    }

    /// The points named one by one; each must be reached (none for `every`).
    pub fn listed(&self) -> &[CrashPoint] {
        match &self.at {
            CrashAt::Every => &[],
            CrashAt::Points(points) => points,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrashAt {
    /// Every crash point the step reaches, at every action that reaches it (rollback points
    /// included where an apply undoes its changes).
    Every,
    /// These points, as listed: at least one, no duplicates.
    Points(Vec<CrashPoint>),
}

/// How a crash trial stops the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrashMethod {
    /// SIGKILL the child process running the engine.
    Kill,
    /// Shut the filesystem down without flushing its log (`FS_IOC_SHUTDOWN`), then remount.
    PowerCut,
    /// Record the step's block writes and flushes, then check every crash state the log
    /// allows. One trial per step: its states cover every point.
    Recorded,
}

impl CrashMethod {
    pub const NAMES: &[&str] = &["kill", "power_cut", "recorded"];

    pub fn as_str(self) -> &'static str {
        match self {
            CrashMethod::Kill => "kill",
            CrashMethod::PowerCut => "power_cut",
            CrashMethod::Recorded => "recorded",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(filesystems: Option<Vec<FsKind>>, steps: Vec<Step>) -> Scenario {
        Scenario {
            name: "s".into(),
            file: "scenarios/s.yaml".into(),
            description: "d".into(),
            proves: None,
            filesystems,
            why: None,
            policy: PolicySpec::default(),
            tree: BTreeMap::new(),
            steps,
        }
    }

    #[test]
    fn default_scope_is_the_whole_run() {
        let s = scenario(None, vec![Step::Fault(Fault::Fill)]);
        let run = [FsKind::Xfs, FsKind::Ext4];
        assert_eq!(s.filesystems_in(&run), run);
    }

    #[test]
    fn narrowed_scope_keeps_run_order() {
        let s = scenario(
            Some(vec![FsKind::Ext4, FsKind::Xfs]),
            vec![Step::Fault(Fault::Fill)],
        );
        assert_eq!(
            s.filesystems_in(&[FsKind::Xfs, FsKind::Btrfs, FsKind::Ext4]),
            [FsKind::Xfs, FsKind::Ext4]
        );
        assert_eq!(s.filesystems_in(&[FsKind::Tmpfs]), []);
    }

    #[test]
    fn crash_is_the_last_steps() {
        let crash = CrashSpec {
            phase: Phase::Rollback,
            at: CrashAt::Every,
            how: vec![CrashMethod::Kill],
        };
        let s = scenario(
            None,
            vec![
                Step::Fault(Fault::Fill),
                Step::Rollback(RollbackStep {
                    crash: Some(crash.clone()),
                    ..RollbackStep::default()
                }),
            ],
        );
        assert_eq!(s.crash(), Some(&crash));
        assert!(CrashPoint::ALL.into_iter().all(|p| crash.selects(p)));
        assert_eq!(crash.listed(), []);
        let listed = CrashSpec {
            at: CrashAt::Points(vec![CrashPoint::RollbackAfterFsync]),
            ..crash
        };
        assert!(listed.selects(CrashPoint::RollbackAfterFsync));
        assert!(!listed.selects(CrashPoint::RollbackAfterRestore));
    }

    #[test]
    fn mode_displays_four_octal_digits() {
        assert_eq!(Mode::new(0o755).unwrap().to_string(), "0755");
        assert_eq!(Mode::new(0o4755).unwrap().to_string(), "4755");
        assert_eq!(Mode::new(0o10000), None);
    }
}
