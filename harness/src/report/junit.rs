//! JUnit XML, built from trial results (never from printed text). One test case per trial.

use std::io::Write;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::event::{FailureKind, Outcome, TrialResult};

pub fn write(mut out: impl Write, results: &[TrialResult]) -> std::io::Result<()> {
    let mut suite = TestSuite::new("fsmatrix");
    for result in results {
        let status = match &result.outcome {
            Outcome::Passed => TestCaseStatus::success(),
            Outcome::Failed(failure) => {
                let kind = match failure.kind {
                    FailureKind::Harness | FailureKind::ChildCrashed | FailureKind::TimedOut => {
                        NonSuccessKind::Error
                    }
                    FailureKind::Expectation
                    | FailureKind::CrashSafety
                    | FailureKind::GoldenMismatch
                    | FailureKind::GoldenMissing
                    | FailureKind::Prerequisite
                    | FailureKind::NotRun => NonSuccessKind::Failure,
                };
                let mut status = TestCaseStatus::non_success(kind);
                status.set_message(failure.message.clone());
                status.set_type(failure.kind.as_str());
                if let Some(diff) = &failure.diff {
                    status.set_description(diff.clone());
                }
                status
            }
        };
        let mut case = TestCase::new(result.id.to_string(), status);
        case.set_classname(result.id.scenario.clone());
        case.set_time(result.duration);
        suite.add_test_case(case);
    }
    let mut report = Report::new("fsmatrix");
    report.add_test_suite(suite);
    let xml = report.to_string().map_err(std::io::Error::other)?;
    out.write_all(xml.as_bytes())?;
    out.flush()
}
