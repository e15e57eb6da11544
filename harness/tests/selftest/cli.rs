//! The command line: bad scenarios stop a run before any trial; shards partition the matrix;
//! golden files are written only on purpose.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::support::{FSMATRIX, Workspace, run};

/// Proves: REQ-M1
#[test]
fn a_malformed_scenario_is_reported_with_file_line_and_column_and_nothing_runs() {
    let ws = Workspace::new("malformed");
    ws.repo_scenario("swap-file");
    ws.scenario(
        "bad",
        "description: bad\npolicy: permissive\ntree: {}\nsteps:\n  - apply: { link: [], frobnicate: 1 }\n",
    );
    let ran = run(ws.fsmatrix(&["run"], &["--fs", "ext4"]));
    assert_eq!(ran.code, 2, "{}", ran.all());
    let bad = ws.scenarios.join("bad.yaml");
    assert!(
        ran.stderr.contains(&format!("{}:5:", bad.display())),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("frobnicate"), "{}", ran.stderr);
    assert_eq!(
        fs::read_dir(&ws.work).unwrap().count(),
        0,
        "a trial was started"
    );
}

/// Proves: REQ-M3
#[test]
fn partitions_together_list_every_trial_exactly_once() {
    let list = |args: &[&str]| -> Vec<String> {
        let ran = run(std::process::Command::new(FSMATRIX)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("list")
            .args(["--scenarios", "../scenarios"])
            .args(args));
        assert_eq!(ran.code, 0, "{}", ran.all());
        ran.stdout.lines().map(str::to_owned).collect()
    };
    let all = list(&[]);
    assert!(all.len() > 100, "{}", all.len());
    let mut union = Vec::new();
    for k in 1..=3 {
        union.extend(list(&["--partition", &format!("{k}/3")]));
    }
    assert_eq!(
        union.len(),
        all.len(),
        "a trial is in two shards or in none"
    );
    assert_eq!(
        union.iter().collect::<BTreeSet<_>>(),
        all.iter().collect::<BTreeSet<_>>()
    );
}

/// Proves: REQ-CI3
/// Proves: REQ-CI3.1
#[test]
fn golden_update_is_refused_under_ci_only_when_ci_is_true() {
    let ws = Workspace::new("golden-ci");
    ws.repo_scenario("swap-absent");
    for yes in ["true", "1", "YES", "On"] {
        let ran = run(ws
            .fsmatrix(&["golden", "update"], &["--fs", "ext4"])
            .env("CI", yes));
        assert_eq!(ran.code, 64, "CI={yes}: {}", ran.all());
        assert!(
            ran.stderr.contains("never in CI"),
            "CI={yes}: {}",
            ran.stderr
        );
    }
    // Not CI: the update goes on, and is refused for its own reason (a partial --fs).
    for no in ["false", "0", "no", ""] {
        let ran = run(ws
            .fsmatrix(&["golden", "update"], &["--fs", "ext4"])
            .env("CI", no));
        assert_eq!(ran.code, 64, "CI={no}: {}", ran.all());
        assert!(
            !ran.stderr.contains("never in CI"),
            "CI={no}: {}",
            ran.stderr
        );
        assert!(
            ran.stderr.contains("--fs leaves some out"),
            "CI={no}: {}",
            ran.stderr
        );
    }
}

/// Proves: REQ-CI3.1
#[test]
fn golden_update_refuses_a_selection_that_leaves_some_filesystems_of_a_scope_out() {
    let ws = Workspace::new("golden-partial");
    ws.repo_scenario("swap-absent");
    let before = fs::read(ws.golden_file("swap-absent")).unwrap();
    fs::write(ws.golden_file("swap-absent"), "stale\n").unwrap();
    for args in [
        &["--fs", "ext4,xfs"][..],
        &["--partition", "2/5"][..],
        &["--partition", "1/1"][..],
    ] {
        let ran = run(ws.fsmatrix(&["golden", "update"], args));
        assert_eq!(ran.code, 64, "{args:?}: {}", ran.all());
        assert!(
            ran.stderr.contains("every filesystem of"),
            "{args:?}: {}",
            ran.stderr
        );
        assert_eq!(
            fs::read_to_string(ws.golden_file("swap-absent")).unwrap(),
            "stale\n",
            "{args:?} wrote a golden"
        );
    }
    let ran = run(ws.fsmatrix(&["golden", "update"], &["--fs", "ext4,xfs"]));
    assert!(
        ran.stderr
            .contains("swap-absent (not on btrfs, tmpfs, overlay)"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        fs::read_dir(&ws.work).unwrap().count(),
        0,
        "a refused update started a run"
    );
    drop(before);
}

/// Proves: REQ-F3
#[test]
fn golden_update_writes_a_transcript_every_filesystem_agrees_on() {
    let ws = Workspace::new("golden-update");
    ws.repo_scenario("swap-absent");
    let repo_golden = fs::read_to_string(ws.golden_file("swap-absent")).unwrap();
    fs::remove_file(ws.golden_file("swap-absent")).unwrap();

    let ran = run(ws.fsmatrix(&["run"], &["--fs", "ext4"]));
    assert_eq!(ran.code, 1, "{}", ran.all());
    assert!(ran.stdout.contains("[golden-missing]"), "{}", ran.stdout);
    fs::remove_dir_all(&ws.work).unwrap();

    let ran = run(ws.fsmatrix(&["golden", "update"], &[]));
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(
        ran.stdout
            .contains("(the same on ext4, btrfs, xfs, tmpfs, overlay)"),
        "{}",
        ran.stdout
    );
    assert_eq!(
        fs::read_to_string(ws.golden_file("swap-absent")).unwrap(),
        repo_golden
    );
    let left: Vec<_> = fs::read_dir(&ws.work).unwrap().flatten().collect();
    assert!(
        left.is_empty(),
        "a passing update kept its run directory: {left:?}"
    );

    let ran = run(ws.fsmatrix(&["run"], &["--fs", "xfs"]));
    assert_eq!(ran.code, 0, "{}", ran.all());
    ws.assert_no_leaks();
}

#[test]
fn golden_update_fails_and_keeps_its_run_when_a_trial_fails() {
    let ws = Workspace::new("golden-update-fails");
    ws.scenario(
        "wrong-check",
        r##"description: A check that cannot hold, so no golden may be written.
filesystems: [tmpfs]
why: one filesystem is enough to fail.
policy: permissive
tree:
  usr/bin/ls: { file: "GNU ls\n", mode: "0755" }
steps:
  - check: { usr/bin/ls: { file: "not GNU ls\n", mode: "0755" } }
"##,
    );
    let ran = run(ws.fsmatrix(&["golden", "update"], &[]));
    assert_eq!(ran.code, 1, "{}", ran.all());
    assert!(
        ran.stdout.contains("not updated: wrong-check"),
        "{}",
        ran.stdout
    );
    assert!(!ws.golden_file("wrong-check").exists());
    assert_eq!(
        fs::read_dir(&ws.work).unwrap().count(),
        1,
        "the failed update's run directory is kept"
    );
    ws.assert_no_leaks();
}

/// A scenario on tmpfs alone: quick, and out of scope on every other filesystem.
const TMPFS_ONLY: &str = r##"description: A regular file becomes a symlink, on tmpfs alone.
filesystems: [tmpfs]
why: one quick filesystem is enough for a test of the command line.
policy: permissive
tree:
  usr/bin/ls:    { file: "GNU ls\n", mode: "0755" }
  opt/uutils/ls: { file: "#!/bin/sh\necho uutils ls\n", mode: "0755" }
steps:
  - apply: { link: [ { source: opt/uutils/ls, target: usr/bin/ls } ] }
"##;

#[test]
fn zero_jobs_and_a_zero_trial_timeout_are_usage_errors() {
    let ws = Workspace::new("zero-flags");
    ws.scenario("tmpfs-only", TMPFS_ONLY);
    for flag in ["--jobs=0", "--trial-timeout=0"] {
        let ran = run(ws.fsmatrix(&["run"], &[flag]));
        assert_eq!(ran.code, 64, "{flag}: {}", ran.all());
        let ran = run(ws.fsmatrix(&["golden", "update"], &[flag]));
        assert_eq!(ran.code, 64, "{flag}: {}", ran.all());
    }
    assert_eq!(fs::read_dir(&ws.work).unwrap().count(), 0);
}

#[test]
fn an_unwritable_report_path_fails_before_any_trial_and_a_junit_error_keeps_the_json() {
    let ws = Workspace::new("report-paths");
    ws.scenario("tmpfs-only", TMPFS_ONLY);
    let nowhere = ws.dir.join("no-such-dir");
    for flag in ["--json", "--junit"] {
        let path = nowhere.join("report");
        let ran = run(ws.fsmatrix(&["run"], &[flag, path.to_str().unwrap()]));
        assert_eq!(ran.code, 4, "{flag}: {}", ran.all());
        assert!(ran.stderr.contains("report"), "{flag}: {}", ran.stderr);
        assert!(
            !ran.stdout.contains("trials on the"),
            "{flag}: a run started: {}",
            ran.stdout
        );
        assert_eq!(fs::read_dir(&ws.work).unwrap().count(), 0, "{flag}");
    }

    // /dev/full opens, and every write to it fails: the JUnit report is lost, the JSON is not.
    let run_ok = run(ws.fsmatrix(&["golden", "update"], &[]));
    assert_eq!(run_ok.code, 0, "{}", run_ok.all());
    let json = ws.dir.join("report.json");
    let ran = run(ws.fsmatrix(
        &["run"],
        &["--junit", "/dev/full", "--json", json.to_str().unwrap()],
    ));
    assert_eq!(ran.code, 4, "{}", ran.all());
    assert!(ran.stderr.contains("JUnit"), "{}", ran.stderr);
    let report = fs::read_to_string(&json).unwrap();
    assert!(report.contains("\"passed\": 1"), "{report}");
}

/// A run that is refused before its trials (here for its work directory) leaves the reports of
/// the last run as they were, and nothing beside them.
#[test]
fn a_refused_run_keeps_the_last_reports() {
    let ws = Workspace::new("report-kept");
    ws.scenario("tmpfs-only", TMPFS_ONLY);
    let reports = ws.dir.join("reports");
    fs::create_dir(&reports).unwrap();
    let (json, junit) = (reports.join("report.json"), reports.join("junit.xml"));
    let report_args = [
        "--json",
        json.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ];
    let update = run(ws.fsmatrix(&["golden", "update"], &[]));
    assert_eq!(update.code, 0, "{}", update.all());
    let passed = run(ws.fsmatrix(&["run"], &report_args));
    assert_eq!(passed.code, 0, "{}", passed.all());
    let last = (
        fs::read_to_string(&json).unwrap(),
        fs::read_to_string(&junit).unwrap(),
    );
    assert!(!last.0.is_empty() && !last.1.is_empty());

    let open = ws.dir.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let refused = run(ws.fsmatrix_in(&open, &["run"], &report_args));
    assert_eq!(refused.code, 3, "{}", refused.all());
    assert_eq!(
        (
            fs::read_to_string(&json).unwrap(),
            fs::read_to_string(&junit).unwrap()
        ),
        last,
        "the refused run changed the reports: {}",
        refused.all()
    );
    let mut names: Vec<String> = fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["junit.xml", "report.json"]);
}

#[test]
fn an_empty_shard_passes_and_says_so() {
    let ws = Workspace::new("empty-shard");
    ws.scenario("tmpfs-only", TMPFS_ONLY);
    let json = ws.dir.join("report.json");
    let ran = run(ws.fsmatrix(
        &["run"],
        &["--partition", "3/3", "--json", json.to_str().unwrap()],
    ));
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(
        ran.stdout.contains("0 trials in this shard"),
        "{}",
        ran.stdout
    );
    assert!(
        fs::read_to_string(&json)
            .unwrap()
            .contains("\"trials\": []")
    );
    // A selection that matches nothing at all is still a mistake.
    let ran = run(ws.fsmatrix(&["run"], &["no-such-scenario"]));
    assert_eq!(ran.code, 64, "{}", ran.all());
}

/// Proves: REQ-CI2.1
#[test]
fn the_closing_line_counts_skips_and_shows_declared_scopes_as_their_own_figure() {
    let ws = Workspace::new("closing-line");
    ws.scenario("tmpfs-only", TMPFS_ONLY);
    let ran = run(ws.fsmatrix(&["golden", "update"], &[]));
    assert_eq!(ran.code, 0, "{}", ran.all());
    let ran = run(ws.fsmatrix(&["run"], &["--fs", "tmpfs,ext4,xfs"]));
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(
        ran.stdout
            .contains("1 passed, 0 failed, 0 skipped; 2 out of scope by declaration"),
        "{}",
        ran.stdout
    );
    ws.assert_no_leaks();
}

/// Proves: REQ-CI3.1
#[test]
fn a_golden_file_without_a_scenario_fails_check_and_run() {
    let ws = Workspace::new("orphan-golden");
    ws.scenario("tmpfs-only", TMPFS_ONLY);
    fs::write(ws.golden_file("renamed-away"), "{}\n").unwrap();
    for cmd in ["check", "run"] {
        let ran = run(ws.fsmatrix(&[cmd], &[]));
        assert_eq!(ran.code, 2, "{cmd}: {}", ran.all());
        assert!(
            ran.stderr.contains("golden files without a scenario")
                && ran.stderr.contains("renamed-away.jsonl"),
            "{cmd}: {}",
            ran.stderr
        );
    }
    assert_eq!(
        fs::read_dir(&ws.work).unwrap().count(),
        0,
        "a trial was started"
    );
}

#[test]
fn check_of_a_directory_without_scenarios_fails() {
    let ws = Workspace::new("no-scenarios");
    let ran = run(ws.fsmatrix(&["check"], &[]));
    assert_eq!(ran.code, 2, "{}", ran.all());
    assert!(ran.stderr.contains("no scenario files"), "{}", ran.stderr);
}

/// `cmd` with its standard output a pipe nobody reads: every write fails with EPIPE.
fn into_a_closed_pipe(mut cmd: std::process::Command) -> crate::support::Ran {
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    drop(reader);
    cmd.stdout(std::process::Stdio::from(writer));
    run(cmd)
}

#[test]
fn a_closed_standard_output_ends_the_output_not_the_command() {
    let ws = Workspace::new("closed-stdout");
    ws.scenario("tmpfs-only", TMPFS_ONLY);
    // Its own work directory, and no Docker engine: nothing of anyone else is touched.
    let mut clean = ws.fsmatrix(&["clean"], &[]);
    clean.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    for (what, cmd) in [
        ("list", ws.fsmatrix(&["list"], &[])),
        ("check", ws.fsmatrix(&["check"], &[])),
        ("clean", clean),
    ] {
        let ran = into_a_closed_pipe(cmd);
        assert_eq!(ran.code, 0, "{what}: {}", ran.stderr);
        assert!(!ran.stderr.contains("panicked"), "{what}: {}", ran.stderr);
    }
}
