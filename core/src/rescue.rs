//! The rescue toolset: programs that must survive the plan, so that a broken swap can still be
//! repaired from a shell.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustix::fs::FileType;

use crate::error::Error;
use crate::health_profile::{Expect, HealthCheck};
use crate::path::SafePath;
use crate::plan::Plan;
use crate::program::{HostRunner, ProgramRunner};
use crate::sys;
use crate::tree::Root;

/// Where to look for a rescue toolset (directories relative to the root), how long each check
/// may run, and how its programs run. BusyBox is preferred; otherwise a GNU subset (`cp`, `mv`,
/// `ln`, `rm`, `cat`).
#[derive(Clone)]
pub struct RescueProfile {
    pub search_dirs: Vec<PathBuf>,
    pub timeout: Duration,
    /// Runs each tool once, as health checks run their targets: [`HostRunner`] (the root's own
    /// program on the host) unless told otherwise; a root of another release needs a runner
    /// that enters it, where its tools find their own interpreter and libraries.
    pub runner: Arc<dyn ProgramRunner>,
}

impl std::fmt::Debug for RescueProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RescueProfile")
            .field("search_dirs", &self.search_dirs)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for RescueProfile {
    fn default() -> Self {
        RescueProfile {
            search_dirs: ["usr/bin", "bin", "usr/sbin", "sbin"]
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            timeout: Duration::from_secs(5),
            runner: Arc::new(HostRunner),
        }
    }
}

impl RescueProfile {
    /// Runs the tools through `runner` instead.
    pub fn with_runner(mut self, runner: impl ProgramRunner + 'static) -> RescueProfile {
        self.runner = Arc::new(runner);
        self
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
///
/// Tools are looked up inside the root like every other path (`RESOLVE_IN_ROOT`): in an image,
/// `usr/bin/busybox -> /bin/busybox` is the image's own `bin/busybox`, never the host's. They
/// run through the profile's runner, by the path they were found at.
pub(crate) fn verify(profile: &RescueProfile, plan: &Plan) -> Result<&'static str, Error> {
    let mut root = Root::open(plan.root())?;
    let targets: Vec<Identity> = plan
        .actions()
        .iter()
        .filter_map(|a| entry(&mut root, a.target().rel()))
        .collect();
    let mut reasons = Vec::new();
    'toolsets: for toolset in &TOOLSETS {
        let mut found = Vec::new();
        for tool in toolset.tools {
            let Some(tool_found) = find(profile, &mut root, tool) else {
                reasons.push(format!(
                    "{}: `{tool}` not found in {}",
                    toolset.name,
                    search_list(profile)
                ));
                continue 'toolsets;
            };
            if tool_found.is_among(&targets) {
                reasons.push(format!(
                    "{}: `{tool}` is a target of this plan and would be swapped away",
                    toolset.name
                ));
                continue 'toolsets;
            }
            found.push(tool_found.rel);
        }
        let probe = HealthCheck::new(&[toolset.probe_arg], Expect::Exit(vec![0]));
        for rel in found {
            let program = SafePath::new(plan.root(), rel)?;
            if let Err(why) = probe.run(profile.runner.as_ref(), &program, profile.timeout)
                && !defect!(RescueProbeIgnored)
            {
                reasons.push(format!("{}: {why}", toolset.name));
                continue 'toolsets;
            }
        }
        return Ok(toolset.name);
    }
    Err(Error::Rescue {
        detail: reasons.join("; "),
    })
}

/// Where an entry of the tree is: its directory (resolved inside the root) and name, and the
/// object it finally leads to. Merged /usr makes `bin/busybox` and `usr/bin/busybox` one entry.
struct Identity {
    dir: (u64, u64),
    name: OsString,
    object: Option<(u64, u64)>,
}

fn entry(root: &mut Root, rel: &Path) -> Option<Identity> {
    let dir = root.dir(rel.parent()?).ok()?;
    let name = rel.file_name()?;
    let object = sys::lstat_at(dir.fd(), name)
        .ok()
        .flatten()
        .map(|m| (m.dev, m.ino));
    Some(Identity {
        dir: dir.key(),
        name: name.to_owned(),
        object,
    })
}

/// A tool found in the root: the entry that names it (and the path it was found at, which is
/// what runs), and the object it leads to.
struct Found {
    entry: Identity,
    rel: PathBuf,
    object: (u64, u64),
}

impl Found {
    /// The tool is swapped away when its entry is a target's, or when it leads to a target's
    /// own object (a symlink into a replaced file).
    fn is_among(&self, targets: &[Identity]) -> bool {
        targets.iter().any(|t| {
            (t.dir, &t.name) == (self.entry.dir, &self.entry.name) || t.object == Some(self.object)
        })
    }
}

fn find(profile: &RescueProfile, root: &mut Root, tool: &str) -> Option<Found> {
    profile.search_dirs.iter().find_map(|dir| {
        let rel = dir.join(tool);
        let meta = root.stat_following(&rel).ok()?;
        if meta.file_type != FileType::RegularFile || meta.mode & 0o111 == 0 {
            return None;
        }
        Some(Found {
            entry: entry(root, &rel)?,
            object: (meta.dev, meta.ino),
            rel,
        })
    })
}

fn search_list(profile: &RescueProfile) -> String {
    profile
        .search_dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
