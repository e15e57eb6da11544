//! A progress line on a terminal for long plans, fed by the engine's facts and health checks.

use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use switchyard::{CheckFailure, Fact, FactSink, SafePath, SmokeRunner, Stage};

/// Plans shorter than this finish before a progress line would help.
const LONG_PLAN: usize = 10;

/// The shared progress line; a no-op unless stderr is a terminal and the plan is long.
#[derive(Clone, Debug)]
pub struct Progress {
    shown: Option<Arc<Mutex<Line>>>,
}

#[derive(Debug)]
struct Line {
    total: usize,
    phase: &'static str,
    done: usize,
}

impl Progress {
    pub fn new(total: usize, quiet: bool) -> Progress {
        let shown = (!quiet && total >= LONG_PLAN && io::stderr().is_terminal()).then(|| {
            Arc::new(Mutex::new(Line {
                total,
                phase: "",
                done: 0,
            }))
        });
        Progress { shown }
    }

    fn step(&self, phase: &'static str) {
        let Some(line) = &self.shown else { return };
        let mut line = line
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if line.phase != phase {
            line.phase = phase;
            line.done = 0;
        }
        line.done += 1;
        let mut err = io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{} {}/{}", line.phase, line.done, line.total);
        let _ = err.flush();
    }

    /// Clears the line before the command prints its result.
    pub fn finish(&self) {
        if self.shown.is_some() {
            let _ = write!(io::stderr(), "\r\x1b[K");
        }
    }
}

/// Passes facts on, counting the per-target ones.
pub struct ProgressSink {
    pub inner: Box<dyn FactSink>,
    pub progress: Progress,
}

impl FactSink for ProgressSink {
    fn record(&mut self, fact: &Fact) -> io::Result<()> {
        if fact.action_id.is_some() {
            match fact.stage {
                Stage::Preflight => self.progress.step("checking"),
                Stage::ApplyResult => self.progress.step("switched"),
                Stage::Rollback => self.progress.step("rolled back"),
                Stage::Plan | Stage::ApplyAttempt | Stage::RollbackSummary | Stage::PruneResult => {
                }
            }
        }
        self.inner.record(fact)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync()
    }
}

/// Runs the health checks, counting them.
pub struct ProgressSmoke<R> {
    pub inner: R,
    pub progress: Progress,
}

impl<R: SmokeRunner> SmokeRunner for ProgressSmoke<R> {
    fn check(&self, target: &SafePath) -> Result<(), CheckFailure> {
        self.progress.step("health checks");
        self.inner.check(target)
    }
}
