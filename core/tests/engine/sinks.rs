//! The JSONL file sink: appends one fact per line and makes them durable on sync. A sink that
//! fails never stops the engine's own safety work: undo, health check, automatic rollback.

use std::fs;
use std::io;
use std::path::Path;

use switchyard::{
    ApplyMode, CheckFailure, Error, ErrorId, Fact, FactSink, JsonlSink, MemorySink, Policy,
    SafePath, SmokeRunner, Switchyard,
};

use crate::support::{Sandbox, permissive, roll_back, set_immutable};

/// Proves: REQ-E12
#[test]
fn the_jsonl_sink_appends_every_fact_as_one_line() {
    let sb = Sandbox::new("jsonl-sink");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let path = sb.dir.join("facts.jsonl");
    let engine = permissive();
    let mut memory = MemorySink::default();
    engine.apply(&plan, ApplyMode::DryRun, &mut memory).unwrap();
    // Two operations append to the same file.
    for _ in 0..2 {
        let mut file = JsonlSink::append(&path).unwrap();
        engine.apply(&plan, ApplyMode::DryRun, &mut file).unwrap();
    }
    let text = fs::read_to_string(&path).unwrap();
    let read: Vec<Fact> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(read.len(), 2 * memory.facts.len());
    assert_eq!(read[..memory.facts.len()], memory.facts[..]);
}

/// A sink on a full filesystem: every record and sync fails with `ENOSPC`.
#[derive(Debug, Default)]
struct FullDisk {
    tried: usize,
}

impl FactSink for FullDisk {
    fn record(&mut self, _fact: &Fact) -> io::Result<()> {
        self.tried += 1;
        Err(io::Error::from_raw_os_error(enospc()))
    }

    fn sync(&mut self) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(enospc()))
    }
}

fn enospc() -> i32 {
    rustix::io::Errno::NOSPC.raw_os_error()
}

struct FailingSmoke;

impl SmokeRunner for FailingSmoke {
    fn check(&self, _target: &SafePath) -> Result<(), CheckFailure> {
        Err(CheckFailure {
            problem: "exited with status 1".to_owned(),
            exit_status: Some(1),
            output_tail: Vec::new(),
        })
    }
}

/// Proves: REQ-FAIL1
#[test]
fn a_failing_sink_does_not_stop_the_undo_of_a_partial_failure() {
    let sb = Sandbox::new("sink-fails-partial");
    sb.file("usr/bin/aa", "GNU aa\n", 0o755)
        .file("usr/bin/bb", "GNU bb\n", 0o755)
        .file("usr/bin/zz", "GNU zz\n", 0o755)
        .file("opt/uutils/aa", "uutils aa\n", 0o755)
        .file("opt/uutils/bb", "uutils bb\n", 0o755)
        .file("opt/uutils/zz", "uutils zz\n", 0o755);
    set_immutable(&sb.path("usr/bin/zz"), true);
    let before = sb.snapshot();
    let plan = sb.plan(&[
        ("opt/uutils/aa", "usr/bin/aa"),
        ("opt/uutils/bb", "usr/bin/bb"),
        ("opt/uutils/zz", "usr/bin/zz"),
    ]);
    let mut sink = FullDisk::default();
    let err = permissive()
        .apply(&plan, ApplyMode::Commit, &mut sink)
        .unwrap_err();
    set_immutable(&sb.path("usr/bin/zz"), false);

    assert_eq!(sb.snapshot(), before, "the undo was skipped");
    assert_eq!(err.id(), ErrorId::Audit, "{err}");
    assert_eq!(err.exit_code(), 130);
    let Error::AuditTrail { outcome, .. } = &err else {
        panic!("not an audit error: {err:?}");
    };
    let outcome = outcome.as_deref().expect("the apply itself failed");
    assert_eq!(outcome.id(), ErrorId::AtomicSwap, "{outcome}");
    assert!(sink.tried > 10, "the engine stopped emitting facts");
}

/// Proves: REQ-FAIL1
#[test]
fn a_failing_sink_does_not_stop_the_health_check_and_its_rollback() {
    let sb = Sandbox::new("sink-fails-smoke");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let before = sb.snapshot();
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let engine = Switchyard::new(Policy::permissive()).with_smoke(FailingSmoke);
    let err = engine
        .apply(&plan, ApplyMode::Commit, &mut FullDisk::default())
        .unwrap_err();

    assert_eq!(
        sb.snapshot(),
        before,
        "the failed health check was not rolled back"
    );
    assert_eq!(err.id(), ErrorId::Audit, "{err}");
    let Error::AuditTrail { outcome, .. } = &err else {
        panic!("not an audit error: {err:?}");
    };
    assert_eq!(outcome.as_deref().map(Error::id), Some(ErrorId::Smoke));
    assert!(err.to_string().contains("E_SMOKE"), "{err}");
}

/// Proves: REQ-FAIL1
#[test]
fn a_failing_sink_after_a_good_commit_says_the_commit_stands() {
    let sb = Sandbox::new("sink-fails-commit");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let err = permissive()
        .apply(&plan, ApplyMode::Commit, &mut FullDisk::default())
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Audit, "{err}");
    let Error::AuditTrail { outcome, .. } = &err else {
        panic!("not an audit error: {err:?}");
    };
    assert!(outcome.is_none(), "{err}");
    assert_eq!(
        fs::read_link(sb.path("usr/bin/ls")).unwrap(),
        Path::new("../../opt/uutils/ls")
    );
    // The commit is recorded on disk: a rollback with a working sink undoes it.
    roll_back(&permissive(), &plan);
    assert_eq!(fs::read(sb.path("usr/bin/ls")).unwrap(), b"GNU ls\n");
}
