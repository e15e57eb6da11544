//! The audit trail: one JSON object per event, and its canonical (redacted) form.
//!
//! The canonical form sets `ts` to the epoch and drops every volatile field (durations, lock
//! waits, filesystem types, messages and check output that may carry host paths or errno text),
//! so the same plan produces the same bytes on any machine and filesystem.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ErrorId;
use crate::state::Kind;

/// The facts schema this engine writes.
pub const FACTS_SCHEMA: u32 = 1;

/// The `ts` of every canonical fact.
pub const CANONICAL_TS: &str = "1970-01-01T00:00:00Z";

/// Where in an operation a fact comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    #[serde(rename = "plan")]
    Plan,
    #[serde(rename = "preflight")]
    Preflight,
    #[serde(rename = "apply.attempt")]
    ApplyAttempt,
    #[serde(rename = "apply.result")]
    ApplyResult,
    #[serde(rename = "rollback")]
    Rollback,
    #[serde(rename = "rollback.summary")]
    RollbackSummary,
    #[serde(rename = "prune.result")]
    PruneResult,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Success,
    Failure,
    Warn,
}

/// Why an action ended as it did, when that is more than plain success.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The target already was the requested link; nothing was done or recorded.
    AlreadyLinked,
    /// The target already was its prior state; rollback had nothing to do.
    IdempotentNoop,
    /// This plan has no recorded change of the target (it was a no-op, or never applied). For a
    /// target that is the plan's link, only when another plan's record accounts for the link, or
    /// in a forced rollback's warning.
    NotChangedByPlan,
    /// The backup store is on another filesystem: bytes were copied, not the inode moved.
    CrossFilesystemCopy,
    /// This plan's change of the target was rolled back before, and the target has changed
    /// since (another plan's swap or rollback): nothing of this plan is left to undo.
    AlreadyRolledBack,
    /// Restores are final; rolling back a plan does not redo the link.
    RestoreIsFinal,
    /// The apply failed and its earlier changes were undone.
    AutoRollback,
    /// Rollback replaced a drifted target because the caller forced it.
    Forced,
}

/// One event of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    pub schema_version: u32,
    pub ts: String,
    pub stage: Stage,
    pub decision: Decision,
    pub plan_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_id: Option<Uuid>,
    pub dry_run: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_kind: Option<Kind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_kind: Option<Kind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_dest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescue_toolset: Option<String>,
    /// How many actions a summary covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<usize>,
    /// How many old generations a prune removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruned: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_id: Option<ErrorId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The exit status of a failed health check, when it exited by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_status: Option<i32>,
    /// Volatile (may name host paths): the last lines a failed health check wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_output: Option<Vec<String>>,
    /// Volatile: removed from the canonical form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Volatile: removed from the canonical form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_wait_ms: Option<u64>,
    /// The type of the filesystem that holds the target (`ext4`, `btrfs`, `xfs`, `tmpfs`,
    /// `overlay`, or the magic number in hex). Volatile: the canonical form is the same on every
    /// filesystem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_type: Option<String>,
    /// Volatile (may name host paths and errno text): removed from the canonical form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Fact {
    /// A fact with every optional field empty, stamped now.
    pub fn new(stage: Stage, decision: Decision, plan_id: Uuid, dry_run: bool) -> Fact {
        Fact {
            schema_version: FACTS_SCHEMA,
            ts: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            stage,
            decision,
            plan_id,
            action_id: None,
            dry_run,
            target: None,
            source: None,
            before_kind: None,
            after_kind: None,
            link_dest: None,
            backup: None,
            degraded: None,
            reason: None,
            rescue_toolset: None,
            actions: None,
            pruned: None,
            error_id: None,
            exit_code: None,
            check_status: None,
            check_output: None,
            duration_ms: None,
            lock_wait_ms: None,
            fs_type: None,
            message: None,
        }
    }

    /// The same fact with `ts` at the epoch and every volatile field removed.
    pub fn canonical(&self) -> Fact {
        Fact {
            ts: CANONICAL_TS.to_owned(),
            check_output: None,
            duration_ms: None,
            lock_wait_ms: None,
            fs_type: None,
            message: None,
            ..self.clone()
        }
    }

    /// One JSON line (no trailing newline). Field order is the struct's, so output is stable.
    pub fn to_json_line(&self) -> String {
        // A struct of strings, numbers and enums always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The canonical JSONL of a run: one line per fact, each ending in `\n`.
pub fn canonical_jsonl(facts: &[Fact]) -> String {
    facts
        .iter()
        .map(|f| f.canonical().to_json_line() + "\n")
        .collect()
}

/// Where facts go. The engine calls [`FactSink::sync`] when an operation ends, before it
/// reports the result; a durable sink makes what it holds survive power loss there.
pub trait FactSink {
    fn record(&mut self, fact: &Fact) -> io::Result<()>;

    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Keeps facts in memory, for tests and for callers that write them elsewhere.
#[derive(Debug, Default)]
pub struct MemorySink {
    pub facts: Vec<Fact>,
}

impl MemorySink {
    pub fn canonical_jsonl(&self) -> String {
        canonical_jsonl(&self.facts)
    }
}

impl FactSink for MemorySink {
    fn record(&mut self, fact: &Fact) -> io::Result<()> {
        self.facts.push(fact.clone());
        Ok(())
    }
}

/// Appends facts to a JSONL file; `sync` flushes and `fdatasync`s it.
#[derive(Debug)]
pub struct JsonlSink {
    out: BufWriter<File>,
}

impl JsonlSink {
    pub fn append(path: &Path) -> io::Result<JsonlSink> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(JsonlSink {
            out: BufWriter::new(file),
        })
    }
}

impl FactSink for JsonlSink {
    fn record(&mut self, fact: &Fact) -> io::Result<()> {
        self.out.write_all(fact.to_json_line().as_bytes())?;
        self.out.write_all(b"\n")
    }

    fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }
}

impl<S: FactSink + ?Sized> FactSink for &mut S {
    fn record(&mut self, fact: &Fact) -> io::Result<()> {
        (**self).record(fact)
    }

    fn sync(&mut self) -> io::Result<()> {
        (**self).sync()
    }
}
