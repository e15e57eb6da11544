//! The certification self-test: the matrix catches every deliberate defect of the engine.
//!
//! Built only with the harness's `defects` feature (`cargo test -p switchyard-harness --features
//! defects --test defects`), which builds `fsmatrix` with the engine's defects in it.

use std::path::Path;
use std::process::Command;

use switchyard::defect::Defect;
use switchyard_harness::defects::SCOPES;

const FSMATRIX: &str = env!("CARGO_BIN_EXE_fsmatrix");
const WORK_DIR: &str = "/var/tmp/fsmatrix-selftest-defects";

/// Proves: REQ-CERT1
#[test]
fn the_matrix_catches_every_deliberate_defect() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(FSMATRIX)
        .arg("--work-dir")
        .arg(WORK_DIR)
        .arg("defects")
        .arg("--scenarios")
        .arg(workspace.join("scenarios"))
        .arg("--golden")
        .arg(workspace.join("golden"))
        .output()
        .expect("fsmatrix runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The table, so a run's log says which trials caught which defect.
    let table = &stdout[stdout.find("defect ").unwrap_or(0)..];
    println!("{table}");
    assert!(
        out.status.success(),
        "fsmatrix defects failed ({}):\n{table}\n{stderr}",
        out.status
    );
    for defect in Defect::ALL {
        let line = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(defect.name()))
            .unwrap_or_else(|| panic!("the table has no line for {defect}:\n{table}"));
        assert!(
            line.contains('@') && !line.contains("NOT CAUGHT"),
            "{defect} is not caught by a trial: {line}"
        );
    }
    // Every scope of a defect caught it on each of its filesystems, and the table names the
    // checks that did: `crash-recorded-apply@btrfs (durable)`.
    for scope in SCOPES {
        let line = table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(scope.defect.name()))
            .unwrap_or_else(|| panic!("the table has no line for {}:\n{table}", scope.defect));
        let words: Vec<&str> = line.split_whitespace().collect();
        for fs in scope.filesystems {
            let at = format!("@{fs}");
            let caught = words.windows(2).any(|w| {
                w[0].ends_with(&at)
                    && scope.scenarios.iter().any(|s| w[0].contains(s))
                    && w[1].starts_with('(')
                    && w[1].len() > 2
            });
            assert!(
                caught,
                "{} is not caught by {:?} on {fs} with a check named: {line}",
                scope.defect, scope.scenarios
            );
        }
    }
    assert!(
        table.contains(&format!(
            "{0} of {0} defects caught by the matrix",
            Defect::ALL.len()
        )),
        "{table}"
    );
}
