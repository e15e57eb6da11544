//! The history of a target: a stack of generations, each placed by one plan. Rollback undoes a
//! plan's own live generation or fails loudly; prune never drops what a rollback still needs.

use std::fs;

use switchyard::{Decision, ErrorId, MemorySink, Plan, Reason, RollbackOptions, Stage};

use crate::support::{Sandbox, commit, permissive, roll_back};

/// `usr/bin/ls` with two replacements, and the plans that link each.
fn two_plans(name: &str) -> (Sandbox, Plan, Plan) {
    let sb = Sandbox::new(name);
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755)
        .file("opt/busybox/ls", "busybox ls\n", 0o755);
    let a = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let b = sb.plan(&[("opt/busybox/ls", "usr/bin/ls")]);
    (sb, a, b)
}

fn rollback_error(plan: &Plan) -> switchyard::Error {
    permissive()
        .rollback(plan, RollbackOptions::default(), &mut MemorySink::default())
        .unwrap_err()
}

#[test]
fn a_deleted_sidecar_fails_rollback_instead_of_a_silent_ok() {
    let (sb, a, _) = two_plans("history-deleted-sidecar");
    commit(&permissive(), &a);
    fs::remove_file(sb.path("usr/bin/.ls.switchyard.1.json")).unwrap();
    let before = sb.snapshot();
    let err = rollback_error(&a);
    assert_eq!(err.id(), ErrorId::BackupMissing, "{err}");
    assert!(err.to_string().contains(".ls.switchyard.1.bak"), "{err}");
    assert_eq!(sb.snapshot(), before);
}

/// With the sidecar and the backup both gone, nothing says what the plan replaced: rollback
/// fails naming the directory it searched, and leaves the link.
#[test]
fn a_deleted_sidecar_and_backup_fail_rollback_instead_of_a_silent_ok() {
    let (sb, a, _) = two_plans("history-deleted-record");
    commit(&permissive(), &a);
    fs::remove_file(sb.path("usr/bin/.ls.switchyard.1.json")).unwrap();
    fs::remove_file(sb.path("usr/bin/.ls.switchyard.1.bak")).unwrap();
    let before = sb.snapshot();
    let err = rollback_error(&a);
    assert_eq!(err.id(), ErrorId::BackupMissing, "{err}");
    let searched = fs::canonicalize(sb.path("usr/bin")).unwrap();
    assert!(
        err.to_string()
            .contains(&format!("`{}`", searched.display())),
        "{err}"
    );
    assert_eq!(sb.snapshot(), before);
}

/// A plan whose apply found its link already in place (put there by hand) recorded nothing, so
/// its rollback cannot tell it from one whose record is lost: it fails, and forced, it leaves the
/// link and says so in a warning.
#[test]
fn a_link_found_in_place_with_no_record_is_left_only_when_forced() {
    let (sb, a, _) = two_plans("history-found-in-place");
    fs::remove_file(sb.path("usr/bin/ls")).unwrap();
    sb.symlink("usr/bin/ls", "../../opt/uutils/ls");
    let before = sb.snapshot();
    assert!(!commit(&permissive(), &a).actions[0].changed);
    let err = rollback_error(&a);
    assert_eq!(err.id(), ErrorId::BackupMissing, "{err}");
    assert!(err.to_string().contains("roll back with force"), "{err}");
    assert_eq!(sb.snapshot(), before);

    let mut facts = MemorySink::default();
    let report = permissive()
        .rollback(&a, RollbackOptions { force: true }, &mut facts)
        .unwrap();
    assert_eq!((report.restored, report.unchanged), (0, 1));
    let fact = facts
        .facts
        .iter()
        .find(|f| f.stage == Stage::Rollback)
        .unwrap();
    assert_eq!(
        (fact.decision, fact.reason, fact.error_id),
        (
            Decision::Warn,
            Some(Reason::NotChangedByPlan),
            Some(ErrorId::BackupMissing)
        )
    );
    assert_eq!(sb.snapshot(), before);
}

#[test]
fn prune_keeps_the_only_copy_of_a_replaced_original() {
    let (sb, a, b) = two_plans("history-prune-original");
    let original = sb.snapshot()["usr/bin/ls"].clone();
    commit(&permissive(), &a);
    commit(&permissive(), &b);
    permissive()
        .prune(&b, 1, &mut MemorySink::default())
        .unwrap();
    assert!(
        sb.path("usr/bin/.ls.switchyard.1.bak").exists(),
        "prune dropped the original"
    );
    // A is under B: rolling A back first is refused, loudly.
    let err = rollback_error(&a);
    assert_eq!(err.id(), ErrorId::Drift, "{err}");
    roll_back(&permissive(), &b);
    roll_back(&permissive(), &a);
    assert_eq!(sb.snapshot()["usr/bin/ls"], original);
}

#[test]
fn prune_removes_generations_that_were_rolled_back() {
    let (sb, a, b) = two_plans("history-prune-dead");
    commit(&permissive(), &a);
    roll_back(&permissive(), &a);
    commit(&permissive(), &b);
    let report = permissive()
        .prune(&b, 1, &mut MemorySink::default())
        .unwrap();
    assert_eq!(report.removed, 1);
    assert!(!sb.path("usr/bin/.ls.switchyard.1.json").exists());
    assert!(sb.path("usr/bin/.ls.switchyard.2.bak").exists());
}

#[test]
fn plans_interleaved_on_one_target_roll_back_in_reverse() {
    let (sb, a, b) = two_plans("history-a-b-a");
    let original = sb.snapshot()["usr/bin/ls"].clone();
    commit(&permissive(), &a);
    commit(&permissive(), &b);
    commit(&permissive(), &a);
    roll_back(&permissive(), &a);
    assert_eq!(
        fs::read_link(sb.path("usr/bin/ls")).unwrap(),
        std::path::Path::new("../../opt/busybox/ls")
    );
    roll_back(&permissive(), &b);
    assert_eq!(
        fs::read_link(sb.path("usr/bin/ls")).unwrap(),
        std::path::Path::new("../../opt/uutils/ls")
    );
    roll_back(&permissive(), &a);
    assert_eq!(sb.snapshot()["usr/bin/ls"], original);
    assert!(!sb.path("usr/bin/.ls.switchyard.1.bak").exists());
    // Every plan's rollback is now a no-op.
    roll_back(&permissive(), &a);
    roll_back(&permissive(), &b);
    assert_eq!(sb.snapshot()["usr/bin/ls"], original);
}

/// Rolling back a plan whose link a later plan replaced would undo that plan's change too: it is
/// refused, naming the plan to roll back first, and nothing changes.
#[test]
fn rolling_back_under_a_later_plan_is_refused_naming_it() {
    let (sb, a, b) = two_plans("history-covered");
    commit(&permissive(), &a);
    commit(&permissive(), &b);
    let before = sb.snapshot();
    let err = rollback_error(&a);
    assert_eq!(err.id(), ErrorId::Drift, "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("placed later by plan {}", b.id())),
        "{message}"
    );
    assert_eq!(sb.snapshot(), before);
}

/// Forced out of order, plan A's rollback would put the original back under plan B's
/// generation, and B's rollback would then put A's link over the only copy of the original.
#[test]
fn force_never_rolls_back_under_a_later_plan() {
    let (sb, a, b) = two_plans("history-covered-forced");
    let original = sb.snapshot();
    commit(&permissive(), &a);
    commit(&permissive(), &b);
    let before = sb.snapshot();
    let err = permissive()
        .rollback(
            &a,
            RollbackOptions { force: true },
            &mut MemorySink::default(),
        )
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Drift, "{err}");
    assert!(
        err.to_string().contains("roll that plan back first"),
        "{err}"
    );
    assert!(!err.to_string().contains("with force"), "{err}");
    assert_eq!(sb.snapshot(), before, "a refused rollback changed the tree");
    roll_back(&permissive(), &b);
    roll_back(&permissive(), &a);
    assert_eq!(sb.snapshot_without_sidecars(), original);
}
