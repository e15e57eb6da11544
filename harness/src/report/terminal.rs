//! The human report: a line per finished trial (with the diff head of a golden mismatch, and a
//! recorded trial's crash states and what its bounds cut), a summary table of scenario ×
//! filesystem, and the closing `N passed, N failed, N skipped; N out of scope by declaration`
//! (with `; N crash states checked, N cut by the bounds` when there were any).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use super::event::{Event, Outcome, TrialResult};
use crate::fs_kind::FsKind;

#[derive(Debug, Default)]
pub struct TerminalReporter {
    results: Vec<TrialResult>,
}

impl TerminalReporter {
    pub fn new() -> TerminalReporter {
        TerminalReporter::default()
    }

    pub fn report(&mut self, event: &Event<'_>) {
        let mut out = io::stdout().lock();
        // A closed stdout (a pipe to `head`) must not fail the run.
        let _ = self.write(&mut out, event);
        let _ = out.flush();
    }

    fn write(&mut self, out: &mut impl Write, event: &Event<'_>) -> io::Result<()> {
        match event {
            Event::RunStarted {
                trials,
                runner,
                scopes,
            } => {
                writeln!(out, "fsmatrix: {trials} trials on the {runner} runner")?;
                for scope in *scopes {
                    let fs: Vec<&str> = scope.filesystems.iter().map(|f| f.as_str()).collect();
                    writeln!(
                        out,
                        "  scope: {} runs on {} only: {}",
                        scope.scenario,
                        fs.join(", "),
                        scope.why
                    )?;
                }
            }
            Event::TrialStarted { .. } => {}
            Event::TrialFinished { result, done, of } => {
                let width = of.to_string().len();
                let secs = result.duration.as_secs_f64();
                let states = if result.crash_states.is_none() {
                    String::new()
                } else {
                    format!(", {}", result.crash_states)
                };
                match &result.outcome {
                    Outcome::Passed => {
                        writeln!(
                            out,
                            "[{done:>width$}/{of}] PASS {} ({secs:.1}s{states})",
                            result.id
                        )?;
                    }
                    Outcome::Failed(f) => {
                        writeln!(
                            out,
                            "[{done:>width$}/{of}] FAIL {} ({secs:.1}s{states}) [{}] {}",
                            result.id, f.kind, f.message
                        )?;
                        if let Some(diff) = &f.diff {
                            for line in diff.lines() {
                                writeln!(out, "    {line}")?;
                            }
                        }
                    }
                }
                self.results.push((*result).clone());
            }
            Event::RunFinished { summary } => {
                write_table(out, &self.results)?;
                writeln!(out, "{summary}")?;
            }
        }
        Ok(())
    }
}

/// The scenario × filesystem table: `pass`, `FAIL`, or `-` where the trial is not in the run.
fn write_table(out: &mut impl Write, results: &[TrialResult]) -> io::Result<()> {
    if results.is_empty() {
        return Ok(());
    }
    let columns: BTreeSet<FsKind> = results.iter().map(|r| r.id.fs).collect();
    let mut rows: BTreeMap<&str, BTreeMap<FsKind, bool>> = BTreeMap::new();
    for r in results {
        rows.entry(&r.id.scenario)
            .or_default()
            .insert(r.id.fs, r.passed());
    }
    let name_width = rows
        .keys()
        .map(|s| s.len())
        .max()
        .unwrap_or(0)
        .max("scenario".len());
    writeln!(out)?;
    write!(out, "{:name_width$}", "scenario")?;
    for fs in &columns {
        write!(out, "  {:>7}", fs.as_str())?;
    }
    writeln!(out)?;
    for (scenario, cells) in &rows {
        write!(out, "{scenario:name_width$}")?;
        for fs in &columns {
            let cell = match cells.get(fs) {
                Some(true) => "pass",
                Some(false) => "FAIL",
                None => "-",
            };
            write!(out, "  {cell:>7}")?;
        }
        writeln!(out)?;
    }
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::matrix::TrialId;
    use crate::report::CrashStates;

    fn line_of(result: &TrialResult) -> String {
        let mut out = Vec::new();
        TerminalReporter::new()
            .write(
                &mut out,
                &Event::TrialFinished {
                    result,
                    done: 1,
                    of: 1,
                },
            )
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    /// A passing recorded trial says how many states it checked and what the bounds cut.
    #[test]
    fn a_pass_line_says_what_the_bounds_cut() {
        let result = TrialResult {
            id: TrialId {
                scenario: "crash-recorded-apply".into(),
                fs: FsKind::Btrfs,
            },
            outcome: Outcome::Passed,
            duration: Duration::from_millis(200),
            crash_states: CrashStates {
                count: 26,
                ..CrashStates::default()
            },
        };
        assert_eq!(
            line_of(&result),
            "[1/1] PASS crash-recorded-apply@btrfs (0.2s, 26 crash states, 0 cut by the bounds)\n"
        );
    }
}
