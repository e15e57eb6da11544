//! Production safeguards: the lock, the rescue toolset and health checks.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use switchyard::{
    ApplyMode, CheckFailure, CommandSmoke, Decision, ErrorId, MemorySink, Policy, Reason, SafePath,
    SmokeRunner, Stage, Switchyard,
};

use crate::support::{Sandbox, child_role, host_busybox, permissive, spawn_child_role, wait_for};

const SCRIPT_OK: &str = "#!/bin/sh\necho uutils\n";
const SCRIPT_FAILS: &str = "#!/bin/sh\nexit 3\n";

/// A tree a production commit can run on: coreutils-like targets, sources that run, and BusyBox
/// as the rescue toolset: a copy of the machine's, reached the way distributions link it.
fn production_tree(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("usr/bin/cat", "GNU cat\n", 0o755)
        .file("opt/uutils/ls", SCRIPT_OK, 0o755)
        .file("opt/uutils/cat", SCRIPT_OK, 0o755)
        .dir("bin")
        .symlink("usr/bin/busybox", "/bin/busybox");
    fs::copy(host_busybox(), sb.path("bin/busybox")).unwrap();
    sb
}

const LINKS: [(&str, &str); 2] = [
    ("opt/uutils/ls", "usr/bin/ls"),
    ("opt/uutils/cat", "usr/bin/cat"),
];

fn production(sb: &Sandbox) -> Switchyard {
    Switchyard::new(Policy::production())
        .with_lock(sb.lock(Duration::from_secs(2)))
        .with_smoke(CommandSmoke::default())
}

/// Proves: REQ-RC1
#[test]
fn production_commit_with_every_safeguard_succeeds() {
    let sb = production_tree("gov-ok");
    let mut facts = MemorySink::default();
    production(&sb)
        .apply(&sb.plan(&LINKS), ApplyMode::Commit, &mut facts)
        .unwrap();
    let gate = facts
        .facts
        .iter()
        .find(|f| f.stage == Stage::Preflight && f.action_id.is_none())
        .unwrap();
    assert_eq!(gate.rescue_toolset.as_deref(), Some("busybox"));
    assert!(
        fs::symlink_metadata(sb.path("usr/bin/ls"))
            .unwrap()
            .is_symlink()
    );
}

fn assert_refused_before_any_change(
    sb: &Sandbox,
    engine: Switchyard,
    links: &[(&str, &str)],
    id: ErrorId,
) {
    let before = sb.snapshot();
    let mut facts = MemorySink::default();
    let err = engine
        .apply(&sb.plan(links), ApplyMode::Commit, &mut facts)
        .unwrap_err();
    assert_eq!(err.id(), id, "{err}");
    assert_eq!(sb.snapshot(), before, "a refused commit changed the tree");
    let last = facts.facts.last().unwrap();
    assert_eq!(
        (last.stage, last.decision),
        (Stage::ApplyResult, Decision::Failure)
    );
    assert_eq!(last.error_id, Some(id));
    assert_eq!(last.exit_code, Some(id.exit_code()));
}

/// Proves: REQ-L4, REQ-E12
#[test]
fn production_commit_without_a_lock_manager_fails_with_e_locking() {
    let sb = production_tree("gov-no-lock");
    let engine = Switchyard::new(Policy::production()).with_smoke(CommandSmoke::default());
    assert_refused_before_any_change(&sb, engine, &LINKS, ErrorId::Locking);
}

/// Proves: REQ-H3
#[test]
fn production_commit_without_a_smoke_runner_fails_with_e_smoke() {
    let sb = production_tree("gov-no-smoke");
    let engine = Switchyard::new(Policy::production()).with_lock(sb.lock(Duration::from_secs(1)));
    assert_refused_before_any_change(&sb, engine, &LINKS, ErrorId::Smoke);
}

/// Proves: REQ-RC1
#[test]
fn production_commit_without_a_rescue_toolset_fails_with_e_rescue() {
    let sb = production_tree("gov-no-rescue");
    fs::remove_file(sb.path("usr/bin/busybox")).unwrap();
    fs::remove_file(sb.path("bin/busybox")).unwrap();
    assert_refused_before_any_change(&sb, production(&sb), &LINKS, ErrorId::Rescue);
}

/// Proves: REQ-RC1
#[test]
fn a_rescue_toolset_that_the_plan_swaps_away_is_rejected() {
    let sb = production_tree("gov-rescue-target");
    sb.file("opt/uutils/busybox", SCRIPT_OK, 0o755);
    let mut links = LINKS.to_vec();
    links.push(("opt/uutils/busybox", "usr/bin/busybox"));
    let engine = production(&sb);
    let err = engine
        .apply(
            &sb.plan(&links),
            ApplyMode::Commit,
            &mut MemorySink::default(),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("is a target of this plan"),
        "{err}"
    );
    assert_refused_before_any_change(&sb, production(&sb), &links, ErrorId::Rescue);
}

/// `usr/bin/busybox -> /bin/busybox` is the root's own `bin/busybox`: the one that runs is the
/// root's, which leaves a mark beside itself. (A script run from its descriptor has
/// `/proc/self/fd/N` as `$0`, so the mark's path is written into it.)
/// Proves: REQ-H4
#[test]
fn a_rescue_link_to_an_absolute_path_runs_the_roots_own_tool() {
    let sb = production_tree("gov-rescue-in-root");
    fs::remove_file(sb.path("bin/busybox")).unwrap();
    let mark = sb.path("bin/busybox.ran");
    sb.file(
        "bin/busybox",
        &format!("#!/bin/sh\ntouch '{}'\n", mark.display()),
        0o755,
    );
    let mut facts = MemorySink::default();
    production(&sb)
        .apply(&sb.plan(&LINKS), ApplyMode::Commit, &mut facts)
        .unwrap();
    assert!(
        mark.exists(),
        "the rescue check did not run the root's own bin/busybox"
    );
}

/// The same link with no `bin/busybox` in the root leads nowhere, whatever the machine has.
#[test]
fn a_rescue_link_that_leads_nowhere_inside_the_root_is_no_toolset() {
    let sb = production_tree("gov-rescue-outside");
    fs::remove_file(sb.path("bin/busybox")).unwrap();
    assert_refused_before_any_change(&sb, production(&sb), &LINKS, ErrorId::Rescue);
}

/// Under an absolute merged-/usr link (`bin -> /usr/bin`), a target `bin/busybox` is the rescue
/// tool `usr/bin/busybox`: swapping it away is refused.
#[test]
fn a_rescue_tool_that_is_a_target_under_another_name_is_rejected() {
    let sb = production_tree("gov-rescue-alias");
    fs::remove_file(sb.path("usr/bin/busybox")).unwrap();
    fs::remove_dir_all(sb.path("bin")).unwrap();
    sb.file("usr/bin/busybox", SCRIPT_OK, 0o755)
        .symlink("bin", "/usr/bin")
        .file("opt/uutils/busybox", SCRIPT_OK, 0o755);
    let mut links = LINKS.to_vec();
    links.push(("opt/uutils/busybox", "bin/busybox"));
    assert_refused_before_any_change(&sb, production(&sb), &links, ErrorId::Rescue);
}

/// Proves: REQ-E7
#[test]
fn a_world_writable_source_is_refused_with_e_ownership() {
    let sb = production_tree("gov-ownership");
    sb.file("opt/uutils/ls", SCRIPT_OK, 0o777);
    assert_refused_before_any_change(&sb, production(&sb), &LINKS, ErrorId::Ownership);
}

/// Proves: REQ-H3
#[test]
fn a_failing_health_check_rolls_everything_back() {
    let sb = production_tree("gov-smoke-fails");
    sb.file("opt/uutils/ls", SCRIPT_FAILS, 0o755);
    let before = sb.snapshot();
    let mut facts = MemorySink::default();
    let err = production(&sb)
        .apply(&sb.plan(&LINKS), ApplyMode::Commit, &mut facts)
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Smoke);
    assert_eq!(err.exit_code(), 80);
    assert!(err.to_string().contains("usr/bin/ls"), "{err}");
    assert_eq!(sb.snapshot(), before, "the rollback was not exact");
    let rolled: Vec<_> = facts
        .facts
        .iter()
        .filter(|f| f.stage == Stage::Rollback)
        .collect();
    assert_eq!(rolled.len(), 2);
    assert!(
        rolled
            .iter()
            .all(|f| f.reason == Some(Reason::AutoRollback) && f.decision == Decision::Success)
    );
    assert!(
        facts
            .facts
            .iter()
            .any(|f| f.stage == Stage::RollbackSummary)
    );
    assert_eq!(facts.facts.last().unwrap().error_id, Some(ErrorId::Smoke));
}

/// Holds the lock while it checks, so a second process can find the lock taken mid-apply.
struct SlowSmoke {
    started: PathBuf,
}

impl SmokeRunner for SlowSmoke {
    fn check(&self, _target: &SafePath) -> Result<(), CheckFailure> {
        fs::write(&self.started, b"").unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        Ok(())
    }
}

/// Proves: REQ-L4, REQ-C5
#[test]
fn a_second_process_waits_for_the_lock_then_fails_with_e_locking() {
    if let Some(dir) = child_role() {
        // The first process: applies plan one and holds the lock through a slow health check.
        let sb = Sandbox {
            root: dir.join("root"),
            dir,
        };
        let engine = permissive()
            .with_lock(sb.lock(Duration::from_secs(5)))
            .with_smoke(SlowSmoke {
                started: sb.dir.join("smoke-started"),
            });
        engine
            .apply(
                &sb.plan(&[LINKS[0]]),
                ApplyMode::Commit,
                &mut MemorySink::default(),
            )
            .unwrap();
        return;
    }
    let sb = production_tree("gov-lock");
    let mut first = spawn_child_role(
        "governance::a_second_process_waits_for_the_lock_then_fails_with_e_locking",
        &sb.dir,
    );
    wait_for(
        &sb.dir.join("smoke-started"),
        "the first process to hold the lock",
    );

    let wait = Duration::from_millis(300);
    let second = permissive().with_lock(sb.lock(wait));
    let mut facts = MemorySink::default();
    let err = second
        .apply(&sb.plan(&[LINKS[1]]), ApplyMode::Commit, &mut facts)
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Locking);
    let waited = facts
        .facts
        .iter()
        .find_map(|f| f.lock_wait_ms)
        .expect("the E_LOCKING fact carries lock_wait_ms");
    assert!((300..1500).contains(&waited), "lock_wait_ms = {waited}");
    assert!(first.wait().unwrap().success(), "the first process failed");

    // Only the first plan's change is on disk.
    assert!(
        fs::symlink_metadata(sb.path("usr/bin/ls"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(fs::read(sb.path("usr/bin/cat")).unwrap(), b"GNU cat\n");
    assert!(!sb.path("usr/bin/.cat.switchyard.1.json").exists());
}
