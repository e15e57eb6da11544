//! The command line: bad scenarios stop a run before any trial; shards partition the matrix;
//! golden files are written only on purpose.

use std::collections::BTreeSet;
use std::fs;

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
#[test]
fn golden_update_is_refused_under_ci() {
    let ws = Workspace::new("golden-ci");
    ws.repo_scenario("swap-absent");
    let ran = run(ws
        .fsmatrix(&["golden", "update"], &["--fs", "ext4"])
        .env("CI", "true"));
    assert_eq!(ran.code, 64, "{}", ran.all());
    assert!(ran.stderr.contains("never in CI"), "{}", ran.stderr);
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

    let ran = run(ws.fsmatrix(&["golden", "update"], &["--fs", "ext4,btrfs"]));
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(ran.stdout.contains("updated: "), "{}", ran.stdout);
    assert_eq!(
        fs::read_to_string(ws.golden_file("swap-absent")).unwrap(),
        repo_golden
    );

    let ran = run(ws.fsmatrix(&["run"], &["--fs", "xfs"]));
    assert_eq!(ran.code, 0, "{}", ran.all());
    ws.assert_no_leaks();
}
