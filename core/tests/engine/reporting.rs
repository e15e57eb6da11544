//! What the facts tell beyond success: what a commit would refuse (in a dry run), how long the
//! lock took, and which filesystem each target is on.

use std::time::Duration;

use switchyard::{ApplyMode, Decision, ErrorId, MemorySink, Policy, Stage, Switchyard};

use crate::store::Tmpfs;
use crate::support::{Sandbox, permissive};

fn tree(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    sb.file("usr/bin/ls", "GNU ls\n", 0o755).file(
        "opt/uutils/ls",
        "#!/bin/sh\necho uutils\n",
        0o755,
    );
    sb
}

/// A production dry run with no lock, no smoke runner and no rescue toolset succeeds (it
/// changes nothing) but warns of each refusal the commit would meet.
#[test]
fn a_dry_run_warns_of_every_gate_the_commit_would_fail() {
    let sb = tree("report-dry-run-warnings");
    let engine = Switchyard::new(Policy::production());
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let mut facts = MemorySink::default();
    engine.apply(&plan, ApplyMode::DryRun, &mut facts).unwrap();
    let mut warned: Vec<ErrorId> = facts
        .facts
        .iter()
        .filter(|f| f.decision == Decision::Warn)
        .filter_map(|f| f.error_id)
        .collect();
    warned.sort();
    assert_eq!(
        warned,
        [ErrorId::Locking, ErrorId::Smoke, ErrorId::Rescue],
        "{:#?}",
        facts.facts
    );
    assert!(facts.facts.iter().all(|f| *f == f.canonical()));

    // The commit does fail, at the first of them.
    let err = engine
        .apply(&plan, ApplyMode::Commit, &mut MemorySink::default())
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Locking);
}

#[test]
fn a_successful_commit_and_rollback_report_their_lock_wait() {
    let sb = tree("report-lock-wait");
    let engine = permissive().with_lock(sb.lock(Duration::from_secs(1)));
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let mut facts = MemorySink::default();
    engine.apply(&plan, ApplyMode::Commit, &mut facts).unwrap();
    engine
        .rollback(&plan, Default::default(), &mut facts)
        .unwrap();
    for stage in [Stage::ApplyResult, Stage::RollbackSummary] {
        let summary = facts
            .facts
            .iter()
            .find(|f| f.stage == stage && f.action_id.is_none())
            .unwrap();
        assert!(
            summary.lock_wait_ms.is_some(),
            "{stage:?} without lock_wait_ms: {summary:?}"
        );
        assert_eq!(summary.canonical().lock_wait_ms, None);
    }
}

/// Facts name the filesystem of each target (raw facts only: the canonical form is the same on
/// every filesystem).
#[test]
fn facts_name_each_targets_filesystem() {
    let sb = Sandbox::new("report-fs-type");
    let mount = Tmpfs::mount(&sb.root.join("on-tmpfs"));
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("on-tmpfs/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let plan = sb.plan(&[
        ("opt/uutils/ls", "on-tmpfs/ls"),
        ("opt/uutils/ls", "usr/bin/ls"),
    ]);
    let mut facts = MemorySink::default();
    permissive()
        .apply(&plan, ApplyMode::Commit, &mut facts)
        .unwrap();
    let fs_type = |target: &str| {
        facts
            .facts
            .iter()
            .find(|f| f.stage == Stage::Preflight && f.target.as_deref() == Some(target))
            .and_then(|f| f.fs_type.clone())
    };
    assert_eq!(fs_type("on-tmpfs/ls").as_deref(), Some("tmpfs"));
    let elsewhere = fs_type("usr/bin/ls").expect("usr/bin/ls has a filesystem type");
    assert!(!elsewhere.is_empty());
    assert!(facts.facts.iter().all(|f| f.canonical().fs_type.is_none()));
    drop(mount);
}
