//! The harness fails, with a message that says why, on every kind of trouble; and releases
//! every mount and loop device afterwards.

use std::fs;
use std::time::Duration;

use switchyard::crash::MOVE_ENV;

use crate::support::{Workspace, run, sleeps_alive, slow_scenario, wait_until};

/// Proves: REQ-CI3
#[test]
fn a_changed_golden_byte_fails_with_a_unified_diff_naming_scenario_and_filesystems() {
    let ws = Workspace::new("golden-mismatch");
    ws.repo_scenario("swap-file");
    let golden = ws.golden_file("swap-file");
    let mut bytes = fs::read(&golden).unwrap();
    // Flip one byte inside the first sha256 of the file.
    let at = String::from_utf8_lossy(&bytes)
        .find("\"sha256\":\"")
        .unwrap()
        + 10;
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    fs::write(&golden, &bytes).unwrap();

    let ran = run(ws.fsmatrix(&["run"], &["--fs", "ext4,xfs"]));
    assert_eq!(ran.code, 1, "{}", ran.all());
    assert!(
        ran.stdout.contains(&format!("--- {}", golden.display())),
        "{}",
        ran.stdout
    );
    for fs in ["ext4", "xfs"] {
        assert!(
            ran.stdout.contains(&format!("+++ swap-file@{fs}")),
            "{}",
            ran.stdout
        );
        assert!(
            ran.stdout.contains(&format!("FAIL swap-file@{fs}")),
            "{}",
            ran.stdout
        );
    }
    assert!(ran.stdout.contains("[golden-mismatch]"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("0 passed, 2 failed, 0 skipped"),
        "{}",
        ran.stdout
    );
    let kept = ws.files_ending(".jsonl.bad");
    assert_eq!(kept.len(), 2, "the whole transcripts are kept: {kept:?}");
    ws.assert_no_leaks();
}

#[test]
fn an_engine_error_the_scenario_does_not_expect_fails_the_trial() {
    let ws = Workspace::new("engine-error");
    ws.scenario(
        "missing-source",
        r##"description: The link source does not exist, so the engine refuses the plan.
policy: permissive
tree:
  usr/bin/ls: { file: "GNU ls\n", mode: "0755" }
steps:
  - apply: { link: [ { source: opt/uutils/ls, target: usr/bin/ls } ] }
"##,
    );
    let ran = run(ws.fsmatrix(&["run"], &["--fs", "ext4"]));
    assert_eq!(ran.code, 1, "{}", ran.all());
    assert!(ran.stdout.contains("[expectation]"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("expected success, got E_POLICY"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("opt/uutils/ls"), "{}", ran.stdout);
    ws.assert_no_leaks();
}

/// Proves: REQ-CI2
#[test]
fn a_missing_mkfs_tool_fails_and_names_the_package() {
    let ws = Workspace::new("missing-mkfs");
    ws.repo_scenario("swap-file");
    let ran = run(ws
        .fsmatrix(&["run"], &["--fs", "xfs"])
        .env("PATH", "/nonexistent"));
    assert_eq!(
        ran.code,
        3,
        "a missing prerequisite has its own exit code: {}",
        ran.all()
    );
    assert!(ran.stdout.contains("[prerequisite]"), "{}", ran.stdout);
    assert!(ran.stdout.contains("mkfs.xfs"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("apt-get install xfsprogs"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("0 passed, 1 failed, 0 skipped"),
        "{}",
        ran.stdout
    );
    ws.assert_no_leaks();
}

/// Proves: REQ-CI2
#[test]
fn a_hung_trial_times_out_is_killed_and_fails() {
    let ws = Workspace::new("hang");
    ws.scenario("hangs", &slow_scenario(611));
    let ran = run(ws.fsmatrix(&["run"], &["--fs", "ext4", "--trial-timeout", "3"]));
    assert_eq!(ran.code, 1, "{}", ran.all());
    assert!(ran.stdout.contains("[timed-out]"), "{}", ran.stdout);
    assert!(ran.stdout.contains("ran longer than 3 s"), "{}", ran.stdout);
    ws.assert_no_leaks();
    // The whole process group went: the child and the health check it was waiting for.
    wait_until(
        Duration::from_secs(5),
        "the hung health check to be killed",
        || !sleeps_alive(611),
    );
}

/// Proves: REQ-CI2, REQ-M2
#[test]
fn a_crash_of_the_trial_child_fails_the_trial_and_its_fixtures_are_swept() {
    let ws = Workspace::new("child-crash");
    // The health check runs under the step child (`fsmatrix __step`), which runs under `strace`,
    // which the trial child started: two parents up from the step child is the trial child.
    for (name, kill) in [
        ("kills-its-step", "kill -9 $PPID"),
        (
            "kills-its-trial",
            "p=$PPID; for hop in 1 2; do p=$(awk '/^PPid:/ { print $2 }' /proc/$p/status); done; kill -9 $p",
        ),
    ] {
        ws.scenario(
            name,
            &format!(
                r##"description: A health-checked binary that kills a process running the trial.
policy: permissive
tree:
  usr/bin/ls:    {{ file: "GNU ls\n", mode: "0755" }}
  opt/uutils/ls: {{ file: "#!/bin/sh\n{kill}\n", mode: "0755" }}
steps:
  - apply: {{ link: [ {{ source: opt/uutils/ls, target: usr/bin/ls }} ] }}
"##
            ),
        );
    }
    let ran = run(ws.fsmatrix(&["run"], &["--fs", "xfs"]));
    assert_eq!(ran.code, 1, "{}", ran.all());
    assert!(
        ran.stdout.contains("0 passed, 2 failed, 0 skipped"),
        "{}",
        ran.stdout
    );
    for who in ["the step child", "the trial child"] {
        assert!(
            ran.stdout
                .contains(&format!("{who} was killed by signal 9")),
            "{}",
            ran.stdout
        );
    }
    assert_eq!(
        ran.stdout.matches("[child-crashed]").count(),
        2,
        "{}",
        ran.stdout
    );
    ws.assert_no_leaks();
}

/// A recorded trial that fails leaves nothing behind: not its recorded disks (FUSE mounts), nor
/// the loop devices and filesystems on them. Each fails at another stage: a `check` before the
/// recording, with its disk served and mounted; the state selection after it, while the states
/// are being served; and the trial child killed mid-recording by the health check (walking up to
/// the `__trial` process), which leaves its disk with no server.
#[test]
fn a_failing_recorded_trial_releases_its_recorded_disks() {
    let ws = Workspace::new("recorded-failure");
    let recorded = |smoke: &str, first: &str| {
        format!(
            r##"description: A recorded apply that fails.
filesystems: [ext4, xfs]
why: Recorded crash states need a block filesystem.
policy: permissive
tree:
  usr/bin/ls:    {{ file: "GNU ls\n", mode: "0755" }}
  opt/uutils/ls: {{ file: "#!/bin/sh\n{smoke}\n", mode: "0755" }}
steps:
{first}  - apply:
      link: [ {{ source: opt/uutils/ls, target: usr/bin/ls }} ]
      crash: {{ at: every, how: [recorded] }}
"##
        )
    };
    ws.scenario(
        "check-fails",
        &recorded("echo uutils ls", "  - check: { usr/bin/ls: absent }\n"),
    )
    .scenario("no-such-state", &recorded("echo uutils ls", ""))
    .scenario(
        "kills-its-trial",
        &recorded(
            "p=$PPID; while [ ${p:-0} -gt 1 ] && ! tr '\\\\0' ' ' </proc/$p/cmdline \
             | grep -q ' __trial '; do p=$(awk '/^PPid:/ { print $2 }' /proc/$p/status); done; \
             kill -9 $p",
            "",
        ),
    );
    let ran = run(ws
        .fsmatrix(
            &["run"],
            &["--fs", "ext4,xfs", "--jobs", "2", "--trial-timeout", "60"],
        )
        .env("FSMATRIX_CRASH_STATE", "no-such-state"));
    assert_eq!(ran.code, 1, "{}", ran.all());
    assert!(
        ran.stdout.contains("0 passed, 6 failed, 0 skipped"),
        "{}",
        ran.stdout
    );
    for fs in ["ext4", "xfs"] {
        for (scenario, why) in [
            ("check-fails", "[expectation] step 1 (check)"),
            (
                "no-such-state",
                "FSMATRIX_CRASH_STATE names no state of this log",
            ),
            (
                "kills-its-trial",
                "[child-crashed] the trial child was killed by signal 9",
            ),
        ] {
            let line = ran
                .stdout
                .lines()
                .find(|l| l.contains(&format!("FAIL {scenario}@{fs} ")))
                .unwrap_or_else(|| panic!("no FAIL line for {scenario}@{fs}: {}", ran.stdout));
            assert!(line.contains(why), "{scenario}@{fs}: {line}");
        }
    }
    ws.assert_no_leaks();
}

/// The crash windows are the harness's, not the engine's: a crash point reported at another
/// point's place (the engine's test-only move, `crash-points` builds only) fails the crash trials
/// that stop there, naming the window, for apply and rollback alike.
/// Proves: REQ-CS2
#[test]
fn a_crash_point_moved_to_another_window_fails_its_crash_trial() {
    let ws = Workspace::new("moved-crash-point");
    ws.repo_scenario("crash-kill-apply")
        .repo_scenario("crash-kill-rollback");
    let ran = run(ws.fsmatrix(&["run"], &["--fs", "ext4"]));
    assert_eq!(ran.code, 0, "unmoved, the crash trials pass: {}", ran.all());

    for (scenario, moved, window) in [
        (
            "crash-kill-apply",
            "apply.after_swap=apply.after_temp_link",
            "crash_window: at apply.after_swap: usr/bin/dir is not the new link",
        ),
        (
            "crash-kill-rollback",
            "rollback.after_unlink=rollback.after_restore",
            "crash_window: at rollback.after_unlink: usr/bin/ls still has its backup name",
        ),
    ] {
        let ran = run(ws
            .fsmatrix(&["run"], &["--fs", "ext4", scenario])
            .env(MOVE_ENV, moved));
        assert_eq!(ran.code, 1, "{moved}: {}", ran.all());
        assert!(ran.stdout.contains("[crash-safety]"), "{}", ran.stdout);
        assert!(ran.stdout.contains(window), "{}", ran.stdout);
    }
    ws.assert_no_leaks();
}
