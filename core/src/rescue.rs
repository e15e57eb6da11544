//! The rescue toolset: programs that must survive the plan, so that a broken swap can still be
//! repaired from a shell.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::Error;
use crate::plan::Plan;
use crate::process::run_with_timeout;

/// Where to look for a rescue toolset (directories relative to the root) and how long each
/// check may run. BusyBox is preferred; otherwise a GNU subset (`cp`, `mv`, `ln`, `rm`, `cat`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RescueProfile {
    pub search_dirs: Vec<PathBuf>,
    pub timeout: Duration,
}

impl Default for RescueProfile {
    fn default() -> Self {
        RescueProfile {
            search_dirs: ["usr/bin", "bin", "usr/sbin", "sbin"]
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            timeout: Duration::from_secs(5),
        }
    }
}

struct Toolset {
    name: &'static str,
    tools: &'static [&'static str],
    probe_arg: &'static str,
}

const TOOLSETS: [Toolset; 2] = [
    Toolset {
        name: "busybox",
        tools: &["busybox"],
        probe_arg: "--help",
    },
    Toolset {
        name: "gnu",
        tools: &["cp", "mv", "ln", "rm", "cat"],
        probe_arg: "--version",
    },
];

/// Finds a toolset that is not among the plan's targets and runs each of its programs.
/// Returns the toolset's name for the preflight fact.
pub(crate) fn verify(profile: &RescueProfile, plan: &Plan) -> Result<&'static str, Error> {
    let targets: Vec<PathBuf> = plan
        .actions()
        .iter()
        .filter_map(|a| identity(&a.target().host_path()))
        .collect();
    let mut reasons = Vec::new();
    'toolsets: for toolset in &TOOLSETS {
        let mut found = Vec::new();
        for tool in toolset.tools {
            let Some(path) = find(profile, plan.root(), tool) else {
                reasons.push(format!(
                    "{}: `{tool}` not found in {}",
                    toolset.name,
                    search_list(profile)
                ));
                continue 'toolsets;
            };
            if identity(&path).is_some_and(|id| targets.contains(&id)) {
                reasons.push(format!(
                    "{}: `{tool}` is a target of this plan and would be swapped away",
                    toolset.name
                ));
                continue 'toolsets;
            }
            found.push(path);
        }
        for path in &found {
            if let Err(why) =
                run_with_timeout(Command::new(path).arg(toolset.probe_arg), profile.timeout)
                && !defect!(RescueProbeIgnored)
            {
                reasons.push(format!(
                    "{}: `{} {}` failed: {why}",
                    toolset.name,
                    path.display(),
                    toolset.probe_arg
                ));
                continue 'toolsets;
            }
        }
        return Ok(toolset.name);
    }
    Err(Error::Rescue {
        detail: reasons.join("; "),
    })
}

fn find(profile: &RescueProfile, root: &Path, tool: &str) -> Option<PathBuf> {
    profile
        .search_dirs
        .iter()
        .map(|dir| root.join(dir).join(tool))
        .find(|path| {
            std::fs::metadata(path)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// A path with its directory's symlinks resolved, for comparing a tool with a target: merged
/// /usr makes `bin/busybox` and `usr/bin/busybox` the same entry.
fn identity(path: &Path) -> Option<PathBuf> {
    let dir = std::fs::canonicalize(path.parent()?).ok()?;
    Some(dir.join(path.file_name()?))
}

fn search_list(profile: &RescueProfile) -> String {
    profile
        .search_dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
