//! `fsmatrix trace`: the guarantees table, printed, written, or checked to be current.

use std::path::Path;
use std::process::ExitCode;

use super::args::TraceArgs;
use super::out::{self, outln};
use crate::error::HarnessError;
use crate::input;
use crate::report::json::JsonReport;
use crate::scenario;
use crate::trace::{self, Listed, Requirements};

pub(super) fn trace(args: &TraceArgs) -> Result<ExitCode, HarnessError> {
    let requirements = Requirements::load(&args.requirements)?;
    let scenarios = scenario::load_dir(&args.scenarios)?;
    let tests = trace::scan(&args.sources)?;
    let traced = trace::check(&requirements, &scenarios, &tests, &args.sources)?;
    if let Some(path) = &args.listed {
        trace::check_listed(&tests, &Listed::load(path)?, &args.sources)?;
    }
    let io = |what, path: &Path| {
        let path = path.to_owned();
        move |source| HarnessError::Io { what, path, source }
    };
    let table = match &args.results {
        Some(path) => {
            let report = JsonReport::read(path).map_err(io("read the run report", path))?;
            trace::table::render_with_results(&traced, &report.trials)
        }
        None => trace::table::render(&traced),
    };
    if let Some(path) = &args.check {
        let current = input::read_text(path, trace::MAX_FILE_BYTES).map_err(|source| {
            HarnessError::Input {
                what: "read the guarantees table",
                path: path.clone(),
                source,
            }
        })?;
        if current != table {
            return Err(HarnessError::StaleGuarantees(path.clone()));
        }
        outln!("{} is current", path.display());
    } else if let Some(path) = &args.write {
        std::fs::write(path, &table).map_err(io("write the guarantees table", path))?;
        outln!("wrote {}", path.display());
    } else {
        out::write(format_args!("{table}"));
    }
    Ok(ExitCode::SUCCESS)
}
