//! Plans recorded on disk, and the read-only status of their links.

use std::fs;

use switchyard::{ErrorId, LinkState, PLANS_DIR, PlanStore};

use crate::support::{Sandbox, commit, permissive, roll_back};

fn tree(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("usr/bin/cat", "GNU cat\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755)
        .file("opt/uutils/cat", "uutils cat\n", 0o755);
    sb
}

#[test]
fn a_saved_plan_is_found_by_its_id_or_a_prefix_and_gives_the_same_plan() {
    let sb = tree("records-roundtrip");
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let store = PlanStore::new(&sb.root);
    let listed = store.list().unwrap();
    assert!(listed.records.is_empty() && listed.unreadable.is_empty());
    store.save(&plan).unwrap();
    let id = plan.id().to_string();
    let recorded = sb.path(&format!("{PLANS_DIR}/{id}.json"));
    assert!(recorded.is_file(), "{} is missing", recorded.display());
    assert!(
        !sb.path(&format!("{PLANS_DIR}/{id}.json.tmp")).exists(),
        "the temporary record was left behind"
    );

    let found = store.find(&id[..8]).unwrap();
    assert_eq!(store.plan(&found).unwrap(), plan);
    assert_eq!(store.list().unwrap().records.len(), 1);
    // Saving again replaces the record rather than adding one.
    store.save(&plan).unwrap();
    assert_eq!(store.list().unwrap().records.len(), 1);
}

/// Records are in commit order by their sequence: saving a plan again makes it the newest;
/// putting its earlier record back restores its place; a removed record is gone.
#[test]
fn records_keep_the_order_they_were_saved_in() {
    let sb = tree("records-order");
    let store = PlanStore::new(&sb.root);
    let a = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let b = sb.plan(&[("opt/uutils/cat", "usr/bin/cat")]);
    let order = || -> Vec<(uuid::Uuid, u64)> {
        let listed = store.list().unwrap();
        assert!(listed.unreadable.is_empty());
        listed
            .records
            .iter()
            .map(|r| (r.plan_id, r.sequence))
            .collect()
    };
    let first_a = store.save(&a).unwrap();
    store.save(&b).unwrap();
    assert_eq!(order(), [(a.id(), 1), (b.id(), 2)]);
    store.save(&a).unwrap();
    assert_eq!(order(), [(b.id(), 2), (a.id(), 3)]);
    store.put(&first_a).unwrap();
    assert_eq!(order(), [(a.id(), 1), (b.id(), 2)]);
    store.remove(a.id()).unwrap();
    assert_eq!(order(), [(b.id(), 2)]);
    assert_eq!(store.get(a.id()).unwrap(), None);
    store.remove(a.id()).unwrap();
}

/// A damaged record is listed apart; the others, and finding them, are not affected.
#[test]
fn a_damaged_record_hides_no_other() {
    let sb = tree("records-damaged");
    let store = PlanStore::new(&sb.root);
    let a = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let b = sb.plan(&[("opt/uutils/cat", "usr/bin/cat")]);
    store.save(&a).unwrap();
    store.save(&b).unwrap();
    fs::write(sb.path(&format!("{PLANS_DIR}/{}.json", a.id())), "{\"trunc").unwrap();
    let listed = store.list().unwrap();
    assert_eq!(listed.records.len(), 1);
    assert_eq!(listed.records[0].plan_id, b.id());
    assert_eq!(listed.unreadable.len(), 1);
    let (id, err) = &listed.unreadable[0];
    assert_eq!(*id, a.id());
    assert_eq!(err.id(), ErrorId::Audit, "{err}");
    assert_eq!(
        store.find(&b.id().to_string()[..8]).unwrap().plan_id,
        b.id()
    );
    let err = store.find(&a.id().to_string()).unwrap_err();
    assert_eq!(err.id(), ErrorId::Audit, "{err}");
}

#[test]
fn a_request_that_matches_no_recorded_plan_is_an_error() {
    let sb = tree("records-unknown");
    let store = PlanStore::new(&sb.root);
    store
        .save(&sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]))
        .unwrap();
    let err = store.find("ffffffff").unwrap_err();
    assert_eq!(err.id(), ErrorId::Policy, "{err}");
    assert!(
        matches!(err, switchyard::Error::UnknownPlan { .. }),
        "{err}"
    );
    assert!(matches!(
        store.find(""),
        Err(switchyard::Error::UnknownPlan { .. })
    ));
}

#[test]
fn an_altered_record_on_disk_is_refused() {
    let sb = tree("records-altered");
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let store = PlanStore::new(&sb.root);
    store.save(&plan).unwrap();
    let path = sb.path(&format!("{PLANS_DIR}/{}.json", plan.id()));
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("opt/uutils/ls", "opt/uutils/cat");
    fs::write(&path, text).unwrap();
    let record = store.find(&plan.id().to_string()).unwrap();
    let err = store.plan(&record).unwrap_err();
    assert_eq!(err.id(), ErrorId::Audit, "{err}");
}

/// Saving replaces a temporary an earlier save of the same plan left (a record of it, or the
/// empty file a crash right after its create leaves); a file of anyone else's under that name
/// fails the save, named, and stays.
#[test]
fn a_file_under_the_records_temporary_name_is_replaced_only_when_it_is_the_engines() {
    let sb = tree("records-temporary");
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let store = PlanStore::new(&sb.root);
    store.save(&plan).unwrap();
    let record = sb.path(&format!("{PLANS_DIR}/{}.json", plan.id()));
    let temp = sb.path(&format!("{PLANS_DIR}/{}.json.tmp", plan.id()));
    for stale in [fs::read(&record).unwrap(), Vec::new()] {
        fs::write(&temp, stale).unwrap();
        store.save(&plan).unwrap();
        assert!(!temp.exists(), "the stale temporary was left");
    }

    fs::write(&temp, "a user's notes\n").unwrap();
    let before = sb.snapshot();
    let err = store.save(&plan).unwrap_err();
    assert_eq!(err.id(), ErrorId::Policy, "{err}");
    assert!(
        err.to_string()
            .contains(&format!("{PLANS_DIR}/{}.json.tmp", plan.id())),
        "{err}"
    );
    assert_eq!(sb.snapshot(), before);
}

#[test]
fn status_follows_a_plan_through_commit_rollback_drift_and_a_later_plan() {
    let sb = tree("records-status");
    let engine = permissive();
    let plan = sb.plan(&[
        ("opt/uutils/cat", "usr/bin/cat"),
        ("opt/uutils/ls", "usr/bin/ls"),
    ]);
    let states = |plan| -> Vec<(String, LinkState, Option<u32>)> {
        engine
            .status(plan)
            .unwrap()
            .into_iter()
            .map(|s| (s.target, s.state, s.generation))
            .collect()
    };
    let both = |state, generation| {
        vec![
            ("usr/bin/cat".to_owned(), state, generation),
            ("usr/bin/ls".to_owned(), state, generation),
        ]
    };
    let before = sb.snapshot();
    assert_eq!(states(&plan), both(LinkState::NotApplied, None));
    assert_eq!(sb.snapshot(), before, "status changed the tree");

    commit(&engine, &plan);
    assert_eq!(states(&plan), both(LinkState::Switched, Some(1)));
    roll_back(&engine, &plan);
    assert_eq!(states(&plan), both(LinkState::RolledBack, Some(1)));

    commit(&engine, &plan);
    fs::remove_file(sb.path("usr/bin/ls")).unwrap();
    fs::write(sb.path("usr/bin/ls"), "reinstalled\n").unwrap();
    let found = states(&plan);
    assert_eq!(
        found[0],
        ("usr/bin/cat".to_owned(), LinkState::Switched, Some(2))
    );
    assert_eq!(
        found[1],
        ("usr/bin/ls".to_owned(), LinkState::Drifted, Some(2))
    );

    let later = sb.plan(&[("opt/uutils/ls", "usr/bin/cat")]);
    commit(&engine, &later);
    assert_eq!(
        states(&plan)[0],
        ("usr/bin/cat".to_owned(), LinkState::Superseded, Some(2))
    );
}

/// Status says what rollback would find: an equal reinstall while the original is kept is
/// drift (rollback refuses it), and a plan whose target a later plan took and gave back is
/// switched again.
#[test]
fn status_calls_an_equal_reinstall_drift_and_a_plan_switched_again_after_a_later_ones_rollback() {
    let sb = tree("records-status-reinstall");
    let engine = permissive();
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let state = |plan| engine.status(plan).unwrap()[0].state;
    commit(&engine, &plan);
    let later = sb.plan(&[("opt/uutils/cat", "usr/bin/ls")]);
    commit(&engine, &later);
    assert_eq!(state(&plan), LinkState::Superseded);
    roll_back(&engine, &later);
    assert_eq!(state(&plan), LinkState::Switched);

    fs::remove_file(sb.path("usr/bin/ls")).unwrap();
    sb.file("usr/bin/ls", "GNU ls\n", 0o755);
    assert_eq!(state(&plan), LinkState::Drifted);
    let refused = engine
        .rollback(
            &plan,
            switchyard::RollbackOptions::default(),
            &mut switchyard::MemorySink::default(),
        )
        .unwrap_err();
    assert_eq!(refused.id(), ErrorId::Drift, "{refused}");
}
