//! A scratch workspace per self-test: its own scenarios, golden files and work directory,
//! removed at the start of the next run of the same test (not at the end, so a failure can be
//! inspected), and the `fsmatrix` binary under test.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use switchyard_harness::fixture::{self, Leaks};

pub const FSMATRIX: &str = env!("CARGO_BIN_EXE_fsmatrix");
const REQUIREMENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/requirements.yaml");
/// Where the self-tests make their directories: outside the checkout, because fsmatrix refuses
/// a work directory below one that a user other than root owns, and a CI runner's checkout is
/// its user's (`sudo` runs the tests). One directory per checkout, named by its target
/// directory, so that two checkouts testing at once never share one.
fn selftest_dir() -> PathBuf {
    // FNV-1a: stable from one build to the next, so a test finds what its last run left.
    let hash = env!("CARGO_TARGET_TMPDIR")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    PathBuf::from(format!("/var/tmp/fsmatrix-selftest/{hash:016x}"))
}

#[derive(Debug)]
pub struct Workspace {
    pub dir: PathBuf,
    pub scenarios: PathBuf,
    pub golden: PathBuf,
    pub work: PathBuf,
}

impl Workspace {
    pub fn new(name: &str) -> Workspace {
        let dir = selftest_dir().join(name);
        if dir.exists() {
            fixture::sweep(&dir).unwrap_or_else(|e| panic!("cannot clear {}: {e}", dir.display()));
        }
        let ws = Workspace {
            scenarios: dir.join("scenarios"),
            golden: dir.join("golden"),
            work: dir.join("work"),
            dir,
        };
        for d in [&ws.scenarios, &ws.golden, &ws.work] {
            fs::create_dir_all(d).unwrap();
        }
        // fsmatrix refuses a work directory anyone but its owner could write to.
        fs::set_permissions(&ws.work, fs::Permissions::from_mode(0o700)).unwrap();
        ws
    }

    pub fn scenario(&self, name: &str, yaml: &str) -> &Workspace {
        fs::write(self.scenarios.join(format!("{name}.yaml")), yaml).unwrap();
        self
    }

    /// Copies a scenario of the repository and its golden file.
    pub fn repo_scenario(&self, name: &str) -> &Workspace {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        fs::copy(
            repo.join("scenarios").join(format!("{name}.yaml")),
            self.scenarios.join(format!("{name}.yaml")),
        )
        .unwrap();
        fs::copy(
            repo.join("golden").join(format!("{name}.jsonl")),
            self.golden_file(name),
        )
        .unwrap();
        self
    }

    pub fn golden_file(&self, name: &str) -> PathBuf {
        self.golden.join(format!("{name}.jsonl"))
    }

    /// `fsmatrix --work-dir WORK SUBCOMMAND --scenarios S --golden G ARGS...` (the source flags
    /// only for subcommands that take them).
    pub fn fsmatrix(&self, subcommand: &[&str], args: &[&str]) -> Command {
        self.fsmatrix_in(&self.work, subcommand, args)
    }

    /// The same, with another work directory.
    pub fn fsmatrix_in(&self, work: &Path, subcommand: &[&str], args: &[&str]) -> Command {
        let mut cmd = Command::new(FSMATRIX);
        cmd.arg("--work-dir").arg(work).args(subcommand);
        if !matches!(subcommand.first(), Some(&"clean") | Some(&"doctor")) {
            cmd.arg("--scenarios")
                .arg(&self.scenarios)
                .arg("--golden")
                .arg(&self.golden);
        }
        if subcommand.first() == Some(&"check") {
            // The scenarios a self-test writes name requirement ids of the workspace's own file.
            cmd.arg("--requirements").arg(REQUIREMENTS);
        }
        cmd.args(args).env_remove("CI");
        cmd
    }

    pub fn leaks(&self) -> Leaks {
        fixture::leaks_under(&self.dir).unwrap()
    }

    pub fn assert_no_leaks(&self) {
        self.assert_no_leaks_but(Path::new(""));
    }

    /// The same, but for a mount of the test's own at `own`.
    pub fn assert_no_leaks_but(&self, own: &Path) {
        let mut leaks = self.leaks();
        leaks.mounts.retain(|m| m != own);
        assert!(
            leaks.is_empty(),
            "left behind under {}: {leaks}",
            self.dir.display()
        );
    }

    /// Every file under the work directory whose name ends with `suffix`.
    pub fn files_ending(&self, suffix: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        walk(&self.work, suffix, &mut found);
        found
    }
}

fn walk(dir: &Path, suffix: &str, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, suffix, found);
        } else if path.to_string_lossy().ends_with(suffix) {
            found.push(path);
        }
    }
}

/// The outcome of a finished `fsmatrix`.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

pub fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Ran {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.borrow_mut().output().unwrap();
    Ran {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

pub fn spawn(mut cmd: impl std::borrow::BorrowMut<Command>) -> Child {
    cmd.borrow_mut()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn finish(child: Child) -> Ran {
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    Ran {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Waits (at most `limit`) until `ready` holds.
pub fn wait_until(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `signal` to a process.
pub fn signal(child: &Child, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}

/// A scenario whose health check runs `sleep MARKER` for minutes, so a trial can be caught
/// mid-run. Each test uses its own marker so parallel tests do not see each other's sleeps.
pub fn slow_scenario(marker: u32) -> String {
    format!(
        r##"description: A health check that takes minutes, so a run can be interrupted mid-trial.
policy:
  preset: permissive
  smoke_timeout_ms: 600000
tree:
  usr/bin/ls:    {{ file: "GNU ls\n", mode: "0755" }}
  opt/uutils/ls: {{ file: "#!/bin/sh\nexec sleep {marker}\n", mode: "0755" }}
steps:
  - apply: {{ link: [ {{ source: opt/uutils/ls, target: usr/bin/ls }} ] }}
"##
    )
}

/// [`slow_scenario`] as a recorded crash trial: the health check sleeps while the apply is being
/// recorded, so a run can be caught with its recorded disks (FUSE mounts) in use.
pub fn slow_recorded_scenario(marker: u32) -> String {
    format!(
        r##"description: A recorded apply whose health check takes minutes, so a run can be interrupted mid-recording.
filesystems: [ext4, xfs]
why: Recorded crash states need a block filesystem.
policy:
  preset: permissive
  smoke_timeout_ms: 600000
tree:
  usr/bin/ls:    {{ file: "GNU ls\n", mode: "0755" }}
  opt/uutils/ls: {{ file: "#!/bin/sh\nexec sleep {marker}\n", mode: "0755" }}
steps:
  - apply:
      link: [ {{ source: opt/uutils/ls, target: usr/bin/ls }} ]
      crash: {{ at: every, how: [recorded] }}
"##
    )
}

/// Whether any process is still running `sleep MARKER`.
pub fn sleeps_alive(marker: u32) -> bool {
    !sleeps(marker).is_empty()
}

/// The processes running `sleep MARKER`.
pub fn sleeps(marker: u32) -> Vec<rustix::process::Pid> {
    let cmdline = format!("sleep\x00{marker}\x00").into_bytes();
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            fs::read(e.path().join("cmdline"))
                .map(|c| c == cmdline)
                .unwrap_or(false)
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter_map(rustix::process::Pid::from_raw)
        .collect()
}
