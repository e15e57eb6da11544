//! What each command prints: a short text for people, or one JSON document with --json.

use std::io::Write;
use std::process::ExitCode;

use serde_json::{Value, json};
use switchyard::{
    ApplyMode, ApplyReport, ErrorId, LinkState, PlanRecord, PruneReport, RollbackReport,
    TargetStatus,
};
use uuid::Uuid;

use crate::args::Cli;
use crate::error::{CLOSED_OUTPUT, Class, CliError, chain};
use crate::rollback::Tidied;
use crate::session::print_json;

fn out(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).map_err(CliError::Output)
}

pub fn applied(
    cli: &Cli,
    report: &ApplyReport,
    mode: ApplyMode,
    left_out: &[String],
    warnings: &[Warning],
) -> Result<(), CliError> {
    warn(warnings);
    let committed = mode == ApplyMode::Commit;
    let changed = report.actions.iter().filter(|a| a.changed).count();
    if cli.json {
        let actions: Vec<Value> = report
            .actions
            .iter()
            .map(|a| {
                json!({
                    "target": a.target,
                    "before": a.before,
                    "after": a.after,
                    "changed": a.changed,
                    "degraded": a.degraded,
                })
            })
            .collect();
        return print_json(&json!({
            "plan_id": report.plan_id,
            "committed": committed,
            "changed": changed,
            "actions": actions,
            "left_out": left_out,
            "warnings": warnings_json(warnings),
        }));
    }
    let mut text = String::new();
    for a in &report.actions {
        let what = if a.changed { "" } else { "  (already linked)" };
        text.push_str(&format!(
            "{:<8} -> {:<8} {}{what}\n",
            a.before.to_string(),
            a.after.to_string(),
            a.target
        ));
    }
    if !left_out.is_empty() {
        text.push_str(&format!(
            "left out (in neither usr/bin nor usr/sbin): {}\n",
            left_out.join(" ")
        ));
    }
    let total = report.actions.len();
    if committed {
        text.push_str(&format!(
            "plan {}: committed, {changed} of {total} targets switched\n",
            report.plan_id
        ));
    } else {
        let next = if warnings.is_empty() {
            "add --commit to apply"
        } else {
            "a commit would fail: see the warnings"
        };
        text.push_str(&format!(
            "plan {}: dry run, {changed} of {total} targets would be switched; nothing changed \
             ({next})\n",
            report.plan_id
        ));
    }
    out(&text)
}

/// Rollbacks done, and with --tidy how many generations' sidecars were removed and which
/// plans' records went with them.
pub fn rolled_back(
    cli: &Cli,
    done: &[(Uuid, RollbackReport)],
    tidied: Option<&Tidied>,
) -> Result<(), CliError> {
    if cli.json {
        return print_json(&json!({
            "rolled_back": rolled_back_json(done),
            "tidied": tidied.map(|t| t.removed),
            "forgotten": tidied.map(|t| &t.forgotten),
        }));
    }
    let mut text = rolled_back_text(done);
    if let Some(tidied) = tidied {
        text.push_str(&format!(
            "tidied: {} generations' sidecars removed\n",
            tidied.removed
        ));
        for id in &tidied.forgotten {
            text.push_str(&format!(
                "plan {id}: nothing of it is left, so its record is removed\n"
            ));
        }
    }
    out(&text)
}

fn rolled_back_json(done: &[(Uuid, RollbackReport)]) -> Vec<Value> {
    done.iter()
        .map(|(id, r)| json!({"plan_id": id, "restored": r.restored, "unchanged": r.unchanged}))
        .collect()
}

fn rolled_back_text(done: &[(Uuid, RollbackReport)]) -> String {
    done.iter()
        .map(|(id, r)| {
            format!(
                "plan {id}: {} targets restored, {} already as before\n",
                r.restored, r.unchanged
            )
        })
        .collect()
}

/// Reports a failed command and gives its exit status: the error on stderr, and with --json an
/// error object on stdout (beside what a rollback did before it stopped). A closed stdout is
/// a quiet exit: there is no one left to tell.
pub fn failure(cli: &Cli, error: &CliError) -> ExitCode {
    if error.is_closed_output() {
        return ExitCode::from(CLOSED_OUTPUT);
    }
    let class = error.class();
    let message = chain(error);
    // Nothing is left to report a failure to write the report to: the exit status still says.
    let _ = writeln!(std::io::stderr(), "switchyard: {message}");
    let done = match error {
        CliError::RollbackStopped { done, .. } => Some(done),
        _ => None,
    };
    let _ = if cli.json {
        let mut document = json!({ "error": problem(class, &message) });
        if let Some(done) = done {
            document["rolled_back"] = rolled_back_json(done).into();
        }
        print_json(&document)
    } else {
        out(&done.map(|d| rolled_back_text(d)).unwrap_or_default())
    };
    ExitCode::from(class.exit_code())
}

pub fn pruned(cli: &Cli, done: &[(Uuid, PruneReport)]) -> Result<(), CliError> {
    if cli.json {
        let plans: Vec<Value> = done
            .iter()
            .map(|(id, r)| json!({"plan_id": id, "removed": r.removed}))
            .collect();
        return print_json(&json!({ "pruned": plans }));
    }
    let text: String = done
        .iter()
        .map(|(id, r)| format!("plan {id}: {} old generations removed\n", r.removed))
        .collect();
    out(&text)
}

fn state_name(state: LinkState) -> &'static str {
    match state {
        LinkState::Switched => "switched",
        LinkState::RolledBack => "rolled-back",
        LinkState::NotApplied => "not-applied",
        LinkState::Superseded => "superseded",
        LinkState::Drifted => "drifted",
    }
}

/// Something a command's result must not hide, though the command succeeded: on stderr, and
/// with --json in the document's `warnings`.
#[derive(Debug)]
pub struct Warning {
    pub class: Class,
    pub message: String,
}

impl From<&switchyard::Error> for Warning {
    fn from(e: &switchyard::Error) -> Warning {
        Warning {
            class: Class::Id(e.id()),
            message: chain(e),
        }
    }
}

impl From<&CliError> for Warning {
    fn from(e: &CliError) -> Warning {
        Warning {
            class: e.class(),
            message: chain(e),
        }
    }
}

impl Warning {
    /// A dry run's warning that its commit would fail with `id`. The engine's dry-run facts
    /// carry the id alone (they are canonical, without messages that name host paths), so the
    /// reason is told here.
    pub fn would_fail(id: ErrorId) -> Warning {
        let why = match id {
            ErrorId::Rescue => {
                ": no working rescue toolset would survive this plan; the root needs BusyBox, or \
                 GNU cp, mv, ln, rm and cat that the plan does not replace"
            }
            _ => "",
        };
        Warning {
            class: Class::Id(id),
            message: format!("a commit would fail with {id} ({}){why}", id.exit_code()),
        }
    }

    fn json(&self) -> Value {
        problem(self.class, &self.message)
    }
}

/// An error or a warning in JSON: `{"id", "exit_code", "message"}`.
fn problem(class: Class, message: &str) -> Value {
    json!({"id": class.name(), "exit_code": class.exit_code(), "message": message})
}

/// Each warning on stderr.
pub fn warn(warnings: &[Warning]) {
    let mut err = std::io::stderr().lock();
    for w in warnings {
        // A closed stderr leaves no one to warn; the result still goes to stdout.
        let _ = writeln!(err, "switchyard: warning: {}", w.message);
    }
}

fn warnings_json(warnings: &[Warning]) -> Vec<Value> {
    warnings.iter().map(Warning::json).collect()
}

pub fn status(cli: &Cli, found: &[TargetStatus], warnings: &[Warning]) -> Result<(), CliError> {
    warn(warnings);
    if cli.json {
        return print_json(&json!({ "targets": found, "warnings": warnings_json(warnings) }));
    }
    let mut text = String::new();
    for s in found {
        let generation = s.generation.map_or("-".to_owned(), |g| g.to_string());
        text.push_str(&format!(
            "{:<12} {} {:>4} {}\n",
            state_name(s.state),
            s.plan_id,
            generation,
            s.target
        ));
    }
    if found.is_empty() {
        text.push_str("no recorded plans\n");
    }
    out(&text)
}

pub fn plans(
    cli: &Cli,
    rows: &[(PlanRecord, Vec<TargetStatus>)],
    unusable: &[(Uuid, switchyard::Error)],
) -> Result<(), CliError> {
    let switched = |links: &[TargetStatus]| {
        links
            .iter()
            .filter(|s| s.state == LinkState::Switched)
            .count()
    };
    if cli.json {
        let readable = rows.iter().map(|(record, links)| {
            json!({
                "plan_id": record.plan_id,
                "recorded_at": record.recorded_at,
                "links": links.len(),
                "switched": switched(links),
            })
        });
        let unusable = unusable
            .iter()
            .map(|(id, e)| json!({"plan_id": id, "error": Warning::from(e).json()}));
        let plans: Vec<Value> = readable.chain(unusable).collect();
        return print_json(&json!({ "plans": plans }));
    }
    let mut text = String::new();
    for (record, links) in rows {
        text.push_str(&format!(
            "{} {} {}/{} switched\n",
            record.plan_id,
            record.recorded_at,
            switched(links),
            links.len()
        ));
    }
    for (id, e) in unusable {
        text.push_str(&format!("{id} unreadable: {}\n", chain(e)));
    }
    if rows.is_empty() && unusable.is_empty() {
        text.push_str("no recorded plans\n");
    }
    out(&text)
}
