//! Scenario files (`scenarios/NAME.yaml`) to typed, validated scenarios.
//!
//! Pure: reading the files is the only I/O, and nothing here needs privilege. The format is
//! documented in `docs/scenario-format.md`.

mod model;

pub use model::{
    ApplyMode, ApplyStep, BackupStore, CheckEntry, CrashAt, CrashMethod, CrashSpec, Entry,
    EntryKind, Fault, LinkRequest, LinkStyle, Mode, Owner, PartialEntry, PolicyOverrides,
    PolicySpec, Preset, PruneStep, RollbackStep, Scenario, Step, WriteEntry,
};
