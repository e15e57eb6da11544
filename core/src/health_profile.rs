//! Health checks that fit real tools: per-target arguments and expected endings, and a built-in
//! profile for coreutils, where `false` exits 1 by design and `yes` never stops on its own.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::path::SafePath;
use crate::process::CheckFailure;
use crate::program::{HostRunner, Outcome, ProgramRun, ProgramRunner};
use crate::smoke::SmokeRunner;

/// How a checked program must end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Expect {
    /// Exit on its own with one of these status codes.
    Exit(Vec<i32>),
    /// Exit on its own with any status a program gives (not 126 or 127, which the dynamic
    /// loader and shells use for "cannot execute" and "not found"). Tools disagree about
    /// `--version` and `--help`; a broken binary fails to start or dies on a signal instead.
    Exits,
    /// Still be running when the check's time is up (`yes`); it is then stopped.
    Runs,
}

/// One check: the arguments a target is run with and how it must end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    #[serde(default)]
    pub args: Vec<String>,
    pub expect: Expect,
}

impl HealthCheck {
    pub fn new(args: &[&str], expect: Expect) -> HealthCheck {
        HealthCheck {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            expect,
        }
    }

    /// Runs `program` through `runner` and tells whether it ended as expected: a program that
    /// must exit has `timeout`; one that must keep running is watched for [`RUNS_FOR`] (or
    /// `timeout`, if shorter), then stopped. A failure carries the program's last output.
    pub(crate) fn run(
        &self,
        runner: &dyn ProgramRunner,
        program: &SafePath,
        timeout: Duration,
    ) -> Result<(), CheckFailure> {
        let limit = match self.expect {
            Expect::Runs => RUNS_FOR.min(timeout),
            Expect::Exit(_) | Expect::Exits => timeout,
        };
        let ProgramRun {
            outcome,
            output_tail,
        } = runner.run(program, &self.args, limit);
        let passed = match (&self.expect, &outcome) {
            (Expect::Exit(codes), Outcome::Exited(code)) => codes.contains(code),
            (Expect::Exits, Outcome::Exited(code)) => !matches!(code, 126 | 127),
            (Expect::Runs, Outcome::StillRunning) => true,
            _ => false,
        };
        if passed {
            return Ok(());
        }
        Err(CheckFailure {
            problem: format!(
                "`{}` {outcome}; expected it to {}",
                shown(program, &self.args),
                expectation(&self.expect)
            ),
            exit_status: match outcome {
                Outcome::Exited(code) => Some(code),
                _ => None,
            },
            output_tail,
        })
    }
}

/// A [`SmokeRunner`] choosing each target's check by its path, then by its file name, then a
/// default; programs run through a [`ProgramRunner`] ([`HostRunner`] unless told otherwise).
pub struct HealthProfile {
    /// Checks by target path relative to the root (`usr/bin/yes`): a plan's own overrides.
    pub by_target: BTreeMap<PathBuf, HealthCheck>,
    /// Checks by file name (`yes`): a profile of a tool set.
    pub by_name: BTreeMap<String, HealthCheck>,
    pub default: HealthCheck,
    /// How long a check may run; how long an [`Expect::Runs`] program must keep running.
    pub timeout: Duration,
    pub runner: Box<dyn ProgramRunner>,
}

impl std::fmt::Debug for HealthProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthProfile")
            .field("by_target", &self.by_target)
            .field("by_name", &self.by_name)
            .field("default", &self.default)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// How long a program expected to keep running is watched before it is stopped.
const RUNS_FOR: Duration = Duration::from_millis(300);

impl HealthProfile {
    /// `--version`, and any ordinary exit passes: fits any tool set; still fails a target that
    /// cannot start, dies on a signal, or hangs.
    pub fn generic() -> HealthProfile {
        HealthProfile {
            by_target: BTreeMap::new(),
            by_name: BTreeMap::new(),
            default: HealthCheck::new(&["--version"], Expect::Exits),
            timeout: Duration::from_secs(10),
            runner: Box::new(HostRunner),
        }
    }

    /// The generic profile plus exact checks of the coreutils that ignore `--version` or give
    /// it an odd status: `true` exits 0, `false` 1, `test`/`[` answer a true expression with
    /// 0, `yes` keeps running; GNU coreutils and uutils both pass it.
    pub fn coreutils() -> HealthProfile {
        let by_name = [
            ("true", HealthCheck::new(&[], Expect::Exit(vec![0]))),
            ("false", HealthCheck::new(&[], Expect::Exit(vec![1]))),
            ("test", HealthCheck::new(&["x"], Expect::Exit(vec![0]))),
            ("[", HealthCheck::new(&["x", "]"], Expect::Exit(vec![0]))),
            ("yes", HealthCheck::new(&[], Expect::Runs)),
        ]
        .into_iter()
        .map(|(name, check)| (name.to_owned(), check))
        .collect();
        HealthProfile {
            by_name,
            ..HealthProfile::generic()
        }
    }

    /// Runs the programs through `runner` instead.
    pub fn with_runner(mut self, runner: impl ProgramRunner + 'static) -> HealthProfile {
        self.runner = Box::new(runner);
        self
    }

    /// The check `target` gets.
    pub fn check_for(&self, target: &SafePath) -> &HealthCheck {
        self.by_target
            .get(target.rel())
            .or_else(|| {
                let name = target.file_name().to_str()?;
                self.by_name.get(name)
            })
            .unwrap_or(&self.default)
    }
}

impl Default for HealthProfile {
    fn default() -> Self {
        HealthProfile::coreutils()
    }
}

impl SmokeRunner for HealthProfile {
    fn check(&self, target: &SafePath) -> Result<(), CheckFailure> {
        self.check_for(target)
            .run(self.runner.as_ref(), target, self.timeout)
    }
}

fn shown(target: &SafePath, args: &[String]) -> String {
    let mut text = target.display_rel();
    for arg in args {
        text.push(' ');
        text.push_str(arg);
    }
    text
}

fn expectation(expect: &Expect) -> String {
    match expect {
        Expect::Exit(codes) => format!(
            "exit with status {}",
            codes
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        Expect::Exits => "exit on its own with a status other than 126 or 127".to_owned(),
        Expect::Runs => format!("keep running for {} ms", RUNS_FOR.as_millis()),
    }
}
