//! Input files that are not what their names say. A golden file that is a FIFO or a device is
//! refused at once, in `run` and in `golden update`: it never hangs the run (a FIFO's open
//! waits for a writer, and no signal ends that wait) nor reads until memory runs out.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Ran, Workspace, finish, spawn};

const TMPFS_SCOPE: &str = r##"description: A regular file becomes a symlink, on tmpfs alone.
filesystems: [tmpfs]
why: one quick filesystem is enough for a test of the golden file's reading.
proves: []
policy: permissive
tree:
  usr/bin/ls:    { file: "GNU ls\n", mode: "0755" }
  opt/uutils/ls: { file: "#!/bin/sh\necho uutils ls\n", mode: "0755" }
steps:
  - apply: { link: [ { source: opt/uutils/ls, target: usr/bin/ls } ] }
"##;

/// `cmd`'s outcome; a failed test if it has not ended within `limit` (it is killed then).
fn run_within(cmd: Command, limit: Duration) -> Ran {
    let mut child = spawn(cmd);
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let ran = finish(child);
            panic!("fsmatrix hung for {limit:?}: {}", ran.all());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    finish(child)
}

/// Makes something other than a regular file at a path.
type Maker = fn(&Path);

fn make_fifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
}

fn link_to_dev_zero(path: &Path) {
    std::os::unix::fs::symlink("/dev/zero", path).unwrap();
}

#[test]
fn a_golden_file_that_is_a_fifo_or_a_device_is_refused_at_once() {
    let makers: [(&str, &str, Maker); 2] = [
        ("fifo", "a FIFO", make_fifo),
        ("device", "a character device", link_to_dev_zero),
    ];
    for (name, kind, make) in makers {
        let ws = Workspace::new(&format!("golden-{name}"));
        ws.scenario("tmpfs-only", TMPFS_SCOPE);
        let golden = ws.golden_file("tmpfs-only");
        make(&golden);
        let refused = format!("not a regular file ({kind})");

        let ran = run_within(ws.fsmatrix(&["run"], &[]), Duration::from_secs(60));
        assert_eq!(ran.code, 1, "{name}: {}", ran.all());
        let expected = format!("[harness] cannot read {}: {refused}", golden.display());
        assert!(
            ran.stdout.contains(&expected),
            "{name}: expected `{expected}` in:\n{}",
            ran.all()
        );

        let update = ws.fsmatrix(&["golden", "update"], &[]);
        let ran = run_within(update, Duration::from_secs(60));
        assert_eq!(ran.code, 4, "{name}: {}", ran.all());
        assert!(
            ran.stderr
                .contains(&format!("cannot read {}", golden.display()))
                && ran.stderr.contains(&refused),
            "{name}: {}",
            ran.all()
        );
        assert!(
            fs::symlink_metadata(&golden).is_ok_and(|m| !m.is_file()),
            "{name}: replaced"
        );
        ws.assert_no_leaks();
    }
}
