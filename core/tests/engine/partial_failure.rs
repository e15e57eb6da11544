//! A plan that fails part-way undoes what it already did, and says so in its facts.

use std::fs;

use switchyard::{ApplyMode, Decision, ErrorId, MemorySink, Reason, Stage};

use crate::support::{Sandbox, permissive, set_immutable};

/// Proves: REQ-E3
#[test]
fn a_failing_action_rolls_back_the_actions_before_it() {
    let sb = Sandbox::new("partial-failure");
    sb.file("usr/bin/aa", "GNU aa\n", 0o755)
        .file("usr/bin/bb", "GNU bb\n", 0o755)
        .file("usr/bin/zz", "GNU zz\n", 0o755)
        .file("opt/uutils/aa", "uutils aa\n", 0o755)
        .file("opt/uutils/bb", "uutils bb\n", 0o755)
        .file("opt/uutils/zz", "uutils zz\n", 0o755);
    // An immutable file cannot be renamed: the swap of the last action fails.
    set_immutable(&sb.path("usr/bin/zz"), true);
    let before = sb.snapshot();

    let mut facts = MemorySink::default();
    let plan = sb.plan(&[
        ("opt/uutils/aa", "usr/bin/aa"),
        ("opt/uutils/bb", "usr/bin/bb"),
        ("opt/uutils/zz", "usr/bin/zz"),
    ]);
    let err = permissive()
        .apply(&plan, ApplyMode::Commit, &mut facts)
        .unwrap_err();
    set_immutable(&sb.path("usr/bin/zz"), false);

    assert_eq!(err.id(), ErrorId::AtomicSwap, "{err}");
    assert_eq!(sb.snapshot(), before, "the undo was not exact");
    assert!(
        !sb.path("usr/bin/.zz.switchyard.1.json").exists(),
        "sidecar of a swap that never happened"
    );

    let failed = facts
        .facts
        .iter()
        .find(|f| f.stage == Stage::ApplyResult && f.decision == Decision::Failure)
        .unwrap();
    assert_eq!(failed.target.as_deref(), Some("usr/bin/zz"));
    assert_eq!(failed.error_id, Some(ErrorId::AtomicSwap));
    let undone: Vec<_> = facts
        .facts
        .iter()
        .filter(|f| f.stage == Stage::Rollback)
        .map(|f| (f.target.clone().unwrap(), f.reason, f.decision))
        .collect();
    assert_eq!(
        undone,
        [
            (
                "usr/bin/bb".to_owned(),
                Some(Reason::AutoRollback),
                Decision::Success
            ),
            (
                "usr/bin/aa".to_owned(),
                Some(Reason::AutoRollback),
                Decision::Success
            ),
        ]
    );
    let last = facts.facts.last().unwrap();
    assert_eq!((last.stage, last.exit_code), (Stage::ApplyResult, Some(40)));
}

/// Proves: REQ-E3
#[test]
fn a_target_in_a_missing_directory_is_refused_before_any_change() {
    let sb = Sandbox::new("partial-missing-dir");
    sb.file("usr/bin/aa", "GNU aa\n", 0o755)
        .file("opt/uutils/aa", "uutils aa\n", 0o755)
        .file("opt/uutils/zz", "uutils zz\n", 0o755);
    let before = sb.snapshot();
    let mut facts = MemorySink::default();
    let err = permissive()
        .apply(
            &sb.plan(&[
                ("opt/uutils/aa", "usr/bin/aa"),
                ("opt/uutils/zz", "usr/nope/zz"),
            ]),
            ApplyMode::Commit,
            &mut facts,
        )
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Policy, "{err}");
    assert_eq!(sb.snapshot(), before);
    let failed = facts
        .facts
        .iter()
        .find(|f| f.stage == Stage::Preflight && f.decision == Decision::Failure)
        .unwrap();
    assert_eq!(failed.target.as_deref(), Some("usr/nope/zz"));
    assert!(fs::read_dir(sb.path("usr/bin")).unwrap().count() == 1);
}
