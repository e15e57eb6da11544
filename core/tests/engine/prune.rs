//! Pruning keeps the newest generations and leaves rollback working.

use switchyard::{MemorySink, Reason, RollbackOptions, Stage};

use crate::support::{Sandbox, commit, permissive, roll_back};

/// Proves: REQ-E9
#[test]
fn prune_keeps_the_newest_generation() {
    let sb = Sandbox::new("prune");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let engine = permissive();
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    for _ in 0..3 {
        commit(&engine, &plan);
        roll_back(&engine, &plan);
    }
    for generation in 1..=3 {
        assert!(
            sb.path(&format!("usr/bin/.ls.switchyard.{generation}.json"))
                .exists()
        );
    }
    let mut facts = MemorySink::default();
    let report = engine.prune(&plan, 1, &mut facts).unwrap();
    assert_eq!(report.removed, 2);
    assert!(!sb.path("usr/bin/.ls.switchyard.1.json").exists());
    assert!(!sb.path("usr/bin/.ls.switchyard.2.json").exists());
    assert!(sb.path("usr/bin/.ls.switchyard.3.json").exists());
    let per_target = facts
        .facts
        .iter()
        .find(|f| f.stage == Stage::PruneResult && f.action_id.is_some())
        .unwrap();
    assert_eq!(per_target.pruned, Some(2));

    let mut facts = MemorySink::default();
    engine
        .rollback(&plan, RollbackOptions::default(), &mut facts)
        .unwrap();
    assert!(
        facts
            .facts
            .iter()
            .any(|f| f.reason == Some(Reason::IdempotentNoop))
    );
}
