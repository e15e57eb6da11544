//! `fsmatrix run`: the matrix on the host, or inside a container.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use super::args::{RunArgs, Runner};
use super::image::runner_image;
use super::out::outln;
use super::reports::ReportFiles;
use super::session::Session;
use super::source::{Selection, no_orphans, select};
use crate::docker::{Docker, RunSpec};
use crate::error::{HarnessError, exit};
use crate::report::json::JsonReport;
use crate::report::{CrashStates, Failure, FailureKind, Outcome, TrialResult};

pub(super) fn run(work_dir: &Path, args: &RunArgs) -> Result<ExitCode, HarnessError> {
    let selection = select(&args.select)?;
    no_orphans(&selection.scenarios, &args.select.source.golden)?;
    let reports = ReportFiles::create(args.junit.as_deref(), args.json.as_deref())?;
    if selection.matrix.trials.is_empty() {
        // A CI matrix may have more shards than trials: an empty shard passes.
        outln!("fsmatrix: 0 trials in this shard");
        reports.write(&[], &selection.matrix.scopes, &[])?;
        return Ok(ExitCode::from(exit::PASSED));
    }
    let session = Session::start(work_dir)?;
    let results = match args.runner {
        Runner::Host => session
            .run_trials(&selection, &args.select.source.golden, &args.exec, true)?
            .into_iter()
            .map(|e| e.result)
            .collect(),
        Runner::Docker => run_in_container(&selection, args, &session)?,
    };
    reports.write(&selection.matrix.trials, &selection.matrix.scopes, &results)?;
    let Session { cancel, run_dir } = session;
    let code = if cancel.is_cancelled() {
        exit::INTERRUPTED
    } else {
        exit_code(&results)
    };
    if code == exit::PASSED {
        let path = run_dir.path().to_owned();
        run_dir.remove().map_err(|source| HarnessError::Io {
            what: "remove the run directory",
            path,
            source,
        })?;
    } else {
        outln!(
            "run directory kept for inspection: {}",
            run_dir.path().display()
        );
    }
    Ok(ExitCode::from(code))
}

/// 0 when everything passed; 3 when a failure was a missing prerequisite (the machine, not the
/// engine, is at fault); 1 otherwise.
pub(super) fn exit_code(results: &[TrialResult]) -> u8 {
    let failures: Vec<FailureKind> = results
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Failed(f) => Some(f.kind),
            Outcome::Passed => None,
        })
        .collect();
    if failures.is_empty() {
        exit::PASSED
    } else if failures.contains(&FailureKind::Prerequisite) {
        exit::PREREQUISITE
    } else {
        exit::TRIALS_FAILED
    }
}

/// The container's results, with a `not-run` failure for any selected trial it did not report:
/// a trial lost on the way is a failure, never a silent skip.
fn account_for_every_trial(
    selection: &Selection,
    mut results: Vec<TrialResult>,
) -> Vec<TrialResult> {
    for id in &selection.matrix.trials {
        if !results.iter().any(|r| r.id == *id) {
            results.push(TrialResult {
                id: id.clone(),
                outcome: Outcome::Failed(Failure::new(
                    FailureKind::NotRun,
                    "the container did not report this trial",
                )),
                duration: Duration::ZERO,
                crash_states: CrashStates::default(),
            });
        }
    }
    results.sort_by(|a, b| a.id.cmp(&b.id));
    results
}

/// Runs the same selection with the host runner inside a container of the runner image,
/// streaming its output; its JSON report comes back through the bind-mounted output directory.
fn run_in_container(
    selection: &Selection,
    args: &RunArgs,
    session: &Session,
) -> Result<Vec<TrialResult>, HarnessError> {
    let (run_dir, cancel) = (&session.run_dir, &session.cancel);
    let docker = Docker::connect()?;
    let mut image = runner_image(&docker, &args.select.source)?;
    run_dir
        .record_runner_image(&image.tag)
        .map_err(|source| HarnessError::Io {
            what: "note the runner image in",
            path: run_dir.work_dir().to_owned(),
            source,
        })?;
    // From the note on, a clean of this work directory keeps the image; one that ran between
    // the build and the note may have removed it.
    if !docker.has_image(&image.tag)? {
        image = runner_image(&docker, &args.select.source)?;
    }

    let out_dir = run_dir.path().join("container");
    std::fs::create_dir_all(&out_dir).map_err(|source| HarnessError::Io {
        what: "create",
        path: out_dir.clone(),
        source,
    })?;
    let mut inner = vec![
        "--work-dir".to_owned(),
        "/out/work".to_owned(),
        "run".to_owned(),
        "--runner=host".to_owned(),
        "--json=/out/report.json".to_owned(),
        format!("--jobs={}", args.exec.jobs),
        format!("--trial-timeout={}", args.exec.trial_timeout),
    ];
    if !args.select.fs.is_empty() {
        let fs: Vec<&str> = args.select.fs.iter().map(|f| f.as_str()).collect();
        inner.push(format!("--fs={}", fs.join(",")));
    }
    if let Some(p) = args.select.partition {
        inner.push(format!("--partition={}/{}", p.index, p.count));
    }
    inner.push("--".to_owned());
    inner.extend(args.select.filters.iter().cloned());

    let spec = RunSpec::new(run_dir.name(), run_dir.work_dir(), inner, &out_dir);
    let mut stdout = std::io::stdout();
    let code = match docker.run(&image, &spec, cancel, &mut |bytes| {
        let _ = stdout.write_all(bytes);
        let _ = stdout.flush();
    }) {
        Ok(code) => code,
        // Interrupted: the container was stopped (its run tore down) and removed; what it
        // reported before stopping is still read below.
        Err(e) if cancel.is_cancelled() => {
            eprintln!("fsmatrix: {e}");
            i64::from(exit::INTERRUPTED)
        }
        Err(e) => return Err(e.into()),
    };
    let report_file = out_dir.join("report.json");
    match JsonReport::read(&report_file) {
        Ok(report) => Ok(account_for_every_trial(selection, report.trials)),
        Err(source) if cancel.is_cancelled() => {
            eprintln!("fsmatrix: interrupted; no report from the container ({source})");
            Ok(Vec::new())
        }
        Err(source) => {
            eprintln!("fsmatrix: the container exited with code {code} without a report");
            Err(HarnessError::Io {
                what: "read the container's report at",
                path: report_file,
                source,
            })
        }
    }
}
