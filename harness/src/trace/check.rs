//! The rules that join requirements, scenarios and tests.

use std::path::Path;

use super::annotations::TestProof;
use super::error::{TraceError, TraceErrors};
use super::requirements::{Requirement, Requirements, Status};
use crate::scenario::{RequirementRef, Scenario};

/// One requirement and everything that names it.
#[derive(Debug)]
pub struct Row<'a> {
    pub requirement: &'a Requirement,
    pub scenarios: Vec<&'a Scenario>,
    pub tests: Vec<&'a TestProof>,
}

impl Row<'_> {
    pub fn is_proven(&self) -> bool {
        !self.scenarios.is_empty() || !self.tests.is_empty()
    }
}

/// The traceability of the workspace: a row per requirement, in the file's order, and the
/// scenarios that declare they prove none.
#[derive(Debug)]
pub struct Trace<'a> {
    pub rows: Vec<Row<'a>>,
    pub proving_nothing: Vec<&'a Scenario>,
}

/// The ids the scenarios name that the requirements file does not define, at the place each is
/// written. All `fsmatrix check` needs; [`check`] applies it too.
pub fn unknown_scenario_ids(
    requirements: &Requirements,
    scenarios: &[Scenario],
) -> Vec<TraceError> {
    scenarios
        .iter()
        .flat_map(|s| {
            let ids = s.proves.iter().flatten();
            unknown(requirements, &s.file, ids)
        })
        .collect()
}

fn unknown<'a>(
    requirements: &'a Requirements,
    file: &'a Path,
    ids: impl Iterator<Item = &'a RequirementRef> + 'a,
) -> impl Iterator<Item = TraceError> + 'a {
    ids.filter(|r| requirements.get(&r.id).is_none())
        .map(move |r| {
            TraceError::new(
                file,
                r.position,
                format!(
                    "unknown requirement `{}`: {} defines no such id",
                    r.id,
                    requirements.file.display()
                ),
            )
        })
}

/// Applies every rule:
/// - every id a scenario or a test names is defined;
/// - every scenario says what it proves (`proves: []` when it proves none yet);
/// - every `implemented` requirement has at least one proof;
/// - an `unproven` or `planned` requirement has none (a proof that lands changes its status).
///
/// `sources` is the directory the tests' paths are relative to, for messages.
pub fn check<'a>(
    requirements: &'a Requirements,
    scenarios: &'a [Scenario],
    tests: &'a [TestProof],
    sources: &Path,
) -> Result<Trace<'a>, TraceErrors> {
    let mut errors = unknown_scenario_ids(requirements, scenarios);
    for test in tests {
        let file = if sources == Path::new(".") {
            test.file.clone()
        } else {
            sources.join(&test.file)
        };
        errors.extend(unknown(requirements, &file, test.proves.iter()).collect::<Vec<_>>());
    }
    let mut proving_nothing = Vec::new();
    for scenario in scenarios {
        match &scenario.proves {
            None => errors.push(TraceError::new(
                &scenario.file,
                None,
                "the scenario does not say what it proves: add `proves: [REQ-..]` naming \
                 requirement ids, or `proves: []` if it proves none yet",
            )),
            Some(ids) if ids.is_empty() => proving_nothing.push(scenario),
            Some(_) => {}
        }
    }
    let names = |scenarios: &[&Scenario], tests: &[&TestProof]| -> String {
        scenarios
            .iter()
            .map(|s| format!("scenario {}", s.name))
            .chain(tests.iter().map(|t| format!("test {}", t.test)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rows: Vec<Row<'a>> = requirements
        .list
        .iter()
        .map(|requirement| Row {
            requirement,
            scenarios: scenarios
                .iter()
                .filter(|s| names_id(s.proves.iter().flatten(), &requirement.id))
                .collect(),
            tests: tests
                .iter()
                .filter(|t| names_id(t.proves.iter(), &requirement.id))
                .collect(),
        })
        .collect();
    for row in &rows {
        let r = row.requirement;
        let at = |message: String| TraceError::new(&requirements.file, r.position, message);
        match (r.status, row.is_proven()) {
            (Status::Implemented, false) => errors.push(at(format!(
                "`{}` is implemented but nothing proves it: name it in a scenario's `proves:` or \
                 in a test's `/// Proves:` line, or set its status to `unproven`",
                r.id
            ))),
            (Status::Unproven | Status::Planned, true) => errors.push(at(format!(
                "`{}` is {} but {} proves it: set its status to `implemented`",
                r.id,
                r.status.as_str(),
                names(&row.scenarios, &row.tests)
            ))),
            _ => {}
        }
    }
    TraceErrors::or_ok(
        errors,
        Trace {
            rows,
            proving_nothing,
        },
    )
}

fn names_id<'a>(mut ids: impl Iterator<Item = &'a RequirementRef>, id: &str) -> bool {
    ids.any(|r| r.id == id)
}
