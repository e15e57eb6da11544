//! What a trial's health checks start dies with the trial, before its filesystems are
//! released: a process backgrounded inside the mount, one left behind by a check that hung, and
//! one that left the trial's process group and environment before the trial was killed.

use rustix::process::Signal;

use crate::support::{Workspace, run, sleeps, sleeps_alive};

/// A health check that leaves `sleep MARKER` running in the background, its working directory
/// inside the mount, and succeeds.
fn backgrounding_scenario(marker: u32) -> String {
    format!(
        r##"description: A health check that leaves a process running inside the mount.
filesystems: [ext4, xfs]
why: Two block filesystems show the loop device is released; more would only add time.
policy: permissive
tree:
  usr/bin/ls:    {{ file: "GNU ls\n", mode: "0755" }}
  opt/uutils/ls: {{ file: "#!/bin/sh\ncd \"${{0%/*}}\" && sleep {marker} &\nexit 0\n", mode: "0755" }}
steps:
  - apply: {{ link: [ {{ source: opt/uutils/ls, target: usr/bin/ls }} ] }}
"##
    )
}

/// A health check that hangs in `sleep MARKER` past its timeout: the engine kills the shell,
/// not the sleep it started.
fn hanging_scenario(marker: u32) -> String {
    format!(
        r##"description: A health check that hangs past its timeout.
filesystems: [ext4, xfs]
why: Two block filesystems show the loop device is released; more would only add time.
policy:
  preset: permissive
  smoke_timeout_ms: 300
tree:
  usr/bin/ls:    {{ file: "GNU ls\n", mode: "0755" }}
  opt/uutils/ls: {{ file: "#!/bin/sh\nsleep {marker}\n", mode: "0755" }}
steps:
  - apply: {{ link: [ {{ source: opt/uutils/ls, target: usr/bin/ls }} ], expect: E_SMOKE }}
"##
    )
}

/// Proves: REQ-M2.1
#[test]
fn processes_a_health_check_leaves_running_die_with_the_trial() {
    let ws = Workspace::new("strays");
    ws.scenario("background", &backgrounding_scenario(630))
        .scenario("hanging", &hanging_scenario(631));
    let update = run(ws.fsmatrix(&["golden", "update"], &["--fs", "ext4,xfs", "--jobs", "2"]));
    assert!(
        !sleeps_alive(630),
        "a backgrounded process outlived its trial"
    );
    assert!(
        !sleeps_alive(631),
        "a hung check's process outlived its trial"
    );
    assert_eq!(update.code, 0, "{}", update.all());
    ws.assert_no_leaks();

    let ran = run(ws.fsmatrix(&["run"], &["--fs", "ext4,xfs", "--jobs", "2"]));
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(ran.stdout.contains("4 passed, 0 failed"), "{}", ran.stdout);
    assert!(!sleeps_alive(630) && !sleeps_alive(631));
    ws.assert_no_leaks();
}

/// A health check that starts `sleep MARKER` inside the mount in a session of its own and with
/// an empty environment (out of the trial's process group, without its token), then `ends` the
/// trial.
fn escaping_scenario(marker: u32, ends: &str) -> String {
    format!(
        r##"description: A health check that puts a process out of the trial's group and environment.
filesystems: [ext4]
why: One block filesystem shows the loop device is released.
policy:
  preset: permissive
  smoke_timeout_ms: 600000
tree:
  usr/bin/ls:    {{ file: "GNU ls\n", mode: "0755" }}
  opt/uutils/ls: {{ file: "#!/bin/sh\ncd \"${{0%/*}}\" && env -i setsid sh -c 'sleep {marker}' &\n{ends}\n", mode: "0755" }}
steps:
  - apply: {{ link: [ {{ source: opt/uutils/ls, target: usr/bin/ls }} ] }}
"##
    )
}

/// A trial killed for its time limit, and one whose child is killed by its own health check:
/// what their checks put out of reach of group and token still dies with them, and nothing
/// stays mounted or attached. The two run side by side: the end of one kills nothing of the
/// other.
/// Proves: REQ-M2.1
#[test]
fn a_process_that_left_the_trials_group_and_token_dies_with_a_killed_trial() {
    let ws = Workspace::new("strays-escaped");
    // The check hangs in `sleep 633` until the trial's time limit.
    ws.scenario("escape-timeout", &escaping_scenario(632, "sleep 633"));
    // Two parents up from the step child (the check's parent) is the trial child.
    ws.scenario(
        "escape-crash",
        &escaping_scenario(
            634,
            "p=$PPID; for hop in 1 2; do p=$(awk '/^PPid:/ { print $2 }' /proc/$p/status); done; kill -9 $p",
        ),
    );
    let ran = run(ws.fsmatrix(&["run"], &["--trial-timeout", "5", "--jobs", "2"]));
    let survivors: Vec<u32> = [632, 633, 634]
        .into_iter()
        .filter(|&m| sleeps_alive(m))
        .collect();
    let leaks = ws.leaks();
    // Whatever this test sees, it leaves nothing running.
    for marker in &survivors {
        for pid in sleeps(*marker) {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
        }
    }
    assert_eq!(ran.code, 1, "{}", ran.all());
    assert_eq!(
        ran.stdout.matches("[timed-out]").count(),
        1,
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("ran longer than 5 s"), "{}", ran.stdout);
    assert!(
        ran.stdout
            .contains("the trial child was killed by signal 9"),
        "{}",
        ran.stdout
    );
    assert_eq!(
        survivors,
        Vec::<u32>::new(),
        "processes outlived their trials: {}",
        ran.stdout
    );
    assert!(leaks.is_empty(), "left behind: {leaks}\n{}", ran.stdout);
}
