//! What a trial's health checks start dies with the trial, before its filesystems are
//! released: a process backgrounded inside the mount, and one left behind by a check that hung.

use crate::support::{Workspace, run, sleeps_alive};

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
