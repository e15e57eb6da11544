//! Dry-run is the default, changes nothing, and reports what a commit would.

use switchyard::{ApplyMode, Fact, MemorySink};

use crate::support::{Sandbox, permissive};

fn tree(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .symlink("usr/bin/dir", "ls")
        .dir("usr/sbin")
        .file("opt/uutils/ls", "uutils ls\n", 0o755)
        .file("opt/uutils/dir", "uutils dir\n", 0o755)
        .file("opt/uutils/new", "uutils new\n", 0o755);
    sb
}

const LINKS: [(&str, &str); 3] = [
    ("opt/uutils/ls", "usr/bin/ls"),
    ("opt/uutils/dir", "usr/bin/dir"),
    ("opt/uutils/new", "usr/sbin/new"),
];

/// Proves: REQ-E2
#[test]
fn dry_run_is_the_default_mode() {
    assert_eq!(ApplyMode::default(), ApplyMode::DryRun);
}

/// Proves: REQ-E2
#[test]
fn dry_run_changes_nothing_and_its_facts_match_a_commit() {
    let sb = tree("dry-run");
    let before = sb.snapshot();
    let engine = permissive();
    let plan = sb.plan(&LINKS);
    let mut dry = MemorySink::default();
    let report = engine.apply(&plan, ApplyMode::DryRun, &mut dry).unwrap();
    assert!(report.actions.iter().all(|a| a.changed));
    assert_eq!(sb.snapshot(), before, "dry-run changed the tree");
    assert!(dry.facts.iter().all(|f| f.dry_run));
    // Dry-run facts come redacted already.
    assert!(dry.facts.iter().all(|f| *f == f.canonical()));

    let mut commit = MemorySink::default();
    engine.apply(&plan, ApplyMode::Commit, &mut commit).unwrap();
    assert_ne!(sb.snapshot(), before);
    let without_flag = |facts: &[Fact]| -> Vec<Fact> {
        facts
            .iter()
            .map(|f| Fact {
                dry_run: false,
                ..f.canonical()
            })
            .collect()
    };
    assert!(!commit.facts.is_empty());
    assert_eq!(without_flag(&dry.facts), without_flag(&commit.facts));
}
