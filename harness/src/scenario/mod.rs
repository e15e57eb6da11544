//! Scenario files (`scenarios/NAME.yaml`) to typed, validated scenarios.
//!
//! Pure: reading the files is the only I/O, and nothing here needs privilege. The format is
//! documented in `docs/scenario-format.md`. Every error names its file and, for a problem in
//! the document, the line and column of the offending node.

mod entry;
mod error;
mod load;
mod model;
mod parse;
mod raw;
mod validate;

#[cfg(test)]
mod tests;

pub use error::{Position, ScenarioError, ScenarioErrors};
pub use load::{MAX_FILE_BYTES, load_dir, load_file};
pub use model::{
    ApplyMode, ApplyStep, BackupStore, CheckEntry, CrashAt, CrashMethod, CrashSpec, Entry,
    EntryKind, Fault, LinkRequest, LinkStyle, Mode, Owner, PartialEntry, PolicyOverrides,
    PolicySpec, Preset, PruneStep, RequirementRef, RollbackStep, Scenario, Step, WriteEntry,
};
