//! The machine-readable report: summary, declared scopes and every trial's result. The Docker
//! runner reads the inner run's report back through this format.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::event::{Summary, TrialResult};
use crate::matrix::DeclaredScope;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonReport {
    pub summary: Summary,
    pub scopes: Vec<DeclaredScope>,
    pub trials: Vec<TrialResult>,
}

impl JsonReport {
    pub fn new(scopes: &[DeclaredScope], trials: &[TrialResult]) -> JsonReport {
        JsonReport {
            summary: Summary::of(trials),
            scopes: scopes.to_vec(),
            trials: trials.to_vec(),
        }
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        text.push('\n');
        std::fs::write(path, text)
    }

    pub fn read(path: &Path) -> std::io::Result<JsonReport> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(std::io::Error::other)
    }
}
