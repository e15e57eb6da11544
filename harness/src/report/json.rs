//! The machine-readable report: summary, declared scopes and every trial's result. The Docker
//! runner reads the inner run's report back through this format.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::event::{Summary, TrialResult};
use crate::matrix::{DeclaredScope, TrialId};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonReport {
    pub summary: Summary,
    pub scopes: Vec<DeclaredScope>,
    pub trials: Vec<TrialResult>,
}

impl JsonReport {
    pub fn new(
        selected: &[TrialId],
        scopes: &[DeclaredScope],
        trials: &[TrialResult],
    ) -> JsonReport {
        JsonReport {
            summary: Summary::of(selected, trials, scopes),
            scopes: scopes.to_vec(),
            trials: trials.to_vec(),
        }
    }

    pub fn write(&self, mut out: impl Write) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        text.push('\n');
        out.write_all(text.as_bytes())?;
        out.flush()
    }

    pub fn read(path: &Path) -> std::io::Result<JsonReport> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(std::io::Error::other)
    }
}
