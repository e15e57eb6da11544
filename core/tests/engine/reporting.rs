//! What the facts tell beyond success: what a commit would refuse (in a dry run), how long the
//! lock took, and which filesystem each target is on.

use std::time::Duration;

use switchyard::{ApplyMode, Decision, ErrorId, MemorySink, Policy, Reason, Stage, Switchyard};

use crate::store::Tmpfs;
use crate::support::{Sandbox, permissive, set_immutable};

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

/// Facts name the filesystem of each target, the apply's and the rollback's (raw facts only: the
/// canonical form is the same on every filesystem).
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
    permissive()
        .rollback(&plan, Default::default(), &mut facts)
        .unwrap();
    let fs_type = |stage: Stage, target: &str| {
        facts
            .facts
            .iter()
            .find(|f| f.stage == stage && f.target.as_deref() == Some(target))
            .and_then(|f| f.fs_type.clone())
    };
    assert_eq!(
        fs_type(Stage::Preflight, "on-tmpfs/ls").as_deref(),
        Some("tmpfs")
    );
    let elsewhere =
        fs_type(Stage::Preflight, "usr/bin/ls").expect("usr/bin/ls has a filesystem type");
    assert!(!elsewhere.is_empty());
    assert_eq!(
        fs_type(Stage::Rollback, "on-tmpfs/ls").as_deref(),
        Some("tmpfs")
    );
    assert_eq!(fs_type(Stage::Rollback, "usr/bin/ls"), Some(elsewhere));
    assert!(facts.facts.iter().all(|f| f.canonical().fs_type.is_none()));
    drop(mount);
}

/// The facts of an apply's own undo name each target's filesystem, as the apply's do.
#[test]
fn an_undo_names_each_targets_filesystem() {
    let sb = tree("report-fs-type-undo");
    sb.file("usr/bin/zz", "GNU zz\n", 0o755);
    // An immutable file cannot be renamed: the second swap fails and the first is undone.
    set_immutable(&sb.path("usr/bin/zz"), true);
    let plan = sb.plan(&[
        ("opt/uutils/ls", "usr/bin/ls"),
        ("opt/uutils/ls", "usr/bin/zz"),
    ]);
    let mut facts = MemorySink::default();
    let failed = permissive().apply(&plan, ApplyMode::Commit, &mut facts);
    set_immutable(&sb.path("usr/bin/zz"), false);
    failed.unwrap_err();
    let of = |stage: Stage| {
        facts
            .facts
            .iter()
            .find(|f| f.stage == stage && f.target.as_deref() == Some("usr/bin/ls"))
            .unwrap_or_else(|| panic!("no {stage:?} fact of usr/bin/ls"))
    };
    let undone = of(Stage::Rollback);
    assert_eq!(undone.reason, Some(Reason::AutoRollback));
    assert!(undone.fs_type.is_some(), "{undone:?}");
    assert_eq!(undone.fs_type, of(Stage::Preflight).fs_type);
}
