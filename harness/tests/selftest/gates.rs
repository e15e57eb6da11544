//! The test command's own gates (`scripts/test`), on logs made here: each fails on what it is
//! there to catch, and passes what it is not.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::support::Workspace;

/// `scripts/no-ignored-tests` on logs of `cargo test` and of a libtest-mimic suite: an ignored
/// test in any of them fails it, naming the line; none passes; a log it cannot read fails it.
/// Proves: REQ-CI2.1
#[test]
fn the_ignored_test_gate_fails_on_any_ignored_test() {
    let ws = Workspace::new("gate-ignored");
    let gate = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/no-ignored-tests");
    let clean = ws.dir.join("clean.log");
    fs::write(
        &clean,
        "running 2 tests\ntest a ... ok\ntest b ... ok\n\n\
         test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
         test result: ok. 10 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s\n",
    )
    .unwrap();
    let run = |logs: &[&Path]| Command::new(&gate).args(logs).output().unwrap();
    let out = run(&[&clean]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for ignored in [1, 10] {
        let log = ws.dir.join(format!("ignored-{ignored}.log"));
        let line = format!(
            "test result: ok. 3 passed; 0 failed; {ignored} ignored; 0 measured; 0 filtered out; finished in 0.01s"
        );
        fs::write(&log, format!("test c ... ignored\n\n{line}\n")).unwrap();
        let out = run(&[&clean, &log]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{ignored}: {stderr}");
        assert!(stderr.contains(&line), "{ignored}: {stderr}");
        assert!(
            stderr.contains("nothing may be skipped"),
            "{ignored}: {stderr}"
        );
    }
}
