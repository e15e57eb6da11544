//! Scenario × filesystem → the list of trials; deterministic shards. Pure: no fixtures, no I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::fs_kind::FsKind;
use crate::scenario::Scenario;

/// One trial: a scenario on a filesystem. Displayed as `scenario@fs`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TrialId {
    pub scenario: String,
    pub fs: FsKind,
}

impl fmt::Display for TrialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.scenario, self.fs)
    }
}

/// A scenario that runs on fewer filesystems than the run, and why (shown in reports: a
/// declared scope, not a skip).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredScope {
    pub scenario: String,
    pub filesystems: Vec<FsKind>,
    /// The filesystems of the run this scenario leaves out.
    pub left_out: Vec<FsKind>,
    pub why: String,
}

/// The trials of a run, in order: by scenario name, then by filesystem in [`FsKind::ALL`] order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matrix {
    pub trials: Vec<TrialId>,
    pub scopes: Vec<DeclaredScope>,
}

/// Which scenarios a run takes: all, or those whose name contains any of the given strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameFilter(pub Vec<String>);

impl NameFilter {
    pub fn accepts(&self, name: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|f| name.contains(f.as_str()))
    }
}

/// Every trial of `scenarios` (sorted by name) on the filesystems of the run.
pub fn expand(scenarios: &[Scenario], run: &[FsKind], filter: &NameFilter) -> Matrix {
    let mut run: Vec<FsKind> = run.to_vec();
    run.sort();
    run.dedup();
    let mut chosen: Vec<&Scenario> = scenarios
        .iter()
        .filter(|s| filter.accepts(&s.name))
        .collect();
    chosen.sort_by(|a, b| a.name.cmp(&b.name));
    let mut matrix = Matrix::default();
    for scenario in chosen {
        let filesystems = scenario.filesystems_in(&run);
        if let Some(why) = &scenario.why {
            matrix.scopes.push(DeclaredScope {
                scenario: scenario.name.clone(),
                filesystems: filesystems.clone(),
                left_out: run
                    .iter()
                    .filter(|fs| !filesystems.contains(fs))
                    .copied()
                    .collect(),
                why: why.clone(),
            });
        }
        matrix
            .trials
            .extend(filesystems.into_iter().map(|fs| TrialId {
                scenario: scenario.name.clone(),
                fs,
            }));
    }
    matrix
}

/// Shard `index` of `count` (1-based, as `--partition 2/3`): every `count`-th trial, so shards
/// are balanced across scenarios and filesystems, and their union is the whole matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    pub index: usize,
    pub count: usize,
}

impl Partition {
    pub fn select(&self, trials: Vec<TrialId>) -> Vec<TrialId> {
        trials
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index - 1)
            .map(|(_, t)| t)
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid partition `{0}`: expected K/N with 1 <= K <= N, e.g. 2/3")]
pub struct BadPartition(String);

impl FromStr for Partition {
    type Err = BadPartition;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadPartition(s.to_owned());
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Partition { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<TrialId> {
        (0..n)
            .map(|i| TrialId {
                scenario: format!("s{i:02}"),
                fs: FsKind::ALL[i % FsKind::ALL.len()],
            })
            .collect()
    }

    /// Proves: REQ-M3
    #[test]
    fn partitions_cover_every_trial_exactly_once() {
        let all = ids(23);
        let mut union: Vec<TrialId> = (1..=3)
            .flat_map(|k| Partition { index: k, count: 3 }.select(all.clone()))
            .collect();
        assert_eq!(union.len(), all.len());
        union.sort();
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(union, sorted);
        let sizes: Vec<usize> = (1..=3)
            .map(|k| Partition { index: k, count: 3 }.select(all.clone()).len())
            .collect();
        assert_eq!(sizes, [8, 8, 7]);
    }

    #[test]
    fn partition_syntax_is_checked() {
        assert_eq!(
            "2/3".parse::<Partition>().unwrap(),
            Partition { index: 2, count: 3 }
        );
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
    }

    #[test]
    fn name_filter_matches_substrings() {
        let f = NameFilter(vec!["swap".into(), "lock".into()]);
        assert!(f.accepts("swap-file"));
        assert!(f.accepts("lock-contention"));
        assert!(!f.accepts("drift"));
        assert!(NameFilter::default().accepts("anything"));
    }
}
