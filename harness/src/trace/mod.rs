//! Requirements traceability: which scenario and which test proves which guarantee.
//!
//! Three inputs, each read on its own: the requirements file (`docs/requirements.yaml`), the
//! `proves:` lists of the scenarios, and the `/// Proves: REQ-..` lines in the doc comments of
//! the workspace's tests. [`check`] joins them and enforces the rules: every id is known, every
//! implemented requirement has a proof, a requirement that is not implemented has none, and every
//! scenario says what it proves. [`check_listed`] adds that every test proof is a test cargo built
//! (`cargo test -- --list`), which source text alone cannot show. [`table::render`] prints the
//! result as the guarantees table (`docs/guarantees.md`).

mod annotations;
mod check;
mod error;
mod id;
mod listed;
mod requirements;
pub mod table;

#[cfg(test)]
mod tests;

pub use annotations::{TestProof, scan};
pub use check::{Row, Trace, check, unknown_scenario_ids};
pub use error::{TraceError, TraceErrors};
pub use listed::{Listed, check_listed};
pub use requirements::{Requirement, Requirements, Status};

/// Where the requirements file lives, relative to the workspace.
pub const REQUIREMENTS_FILE: &str = "docs/requirements.yaml";

/// Where the generated guarantees table lives, relative to the workspace.
pub const GUARANTEES_FILE: &str = "docs/guarantees.md";

/// The largest file `trace` reads (the requirements file, a guarantees table to check): each is
/// a few dozen KiB, and a file that is not one must not be read into memory whole.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
