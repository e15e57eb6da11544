//! The rules of the traceability check, on small inputs written here.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::annotations::annotations;
use super::*;
use crate::scenario::{Position, RequirementRef, Scenario};

fn at(line: u64, column: u64) -> Option<Position> {
    Some(Position { line, column })
}

const REQUIREMENTS: &str = "requirements:\n  - id: REQ-R2\n    title: exact topology\n    guarantee: Rollback restores the prior object.\n    status: implemented\n  - id: REQ-C8\n    title: thread safety\n    guarantee: The engine is Send and Sync.\n    status: planned\n    issue: 10\n";

fn requirements() -> Requirements {
    Requirements::parse(Path::new("docs/requirements.yaml"), REQUIREMENTS).unwrap()
}

fn scenario(name: &str, proves: Option<&[&str]>) -> Scenario {
    let text = "description: d\npolicy: permissive\nsteps:\n  - apply: { link: [ { source: a, target: b } ] }\n  - rollback: {}\n";
    // Tests run in parallel and several load a scenario of the same name: one file each.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "switchyard-harness-trace-tests-{}/{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, text).unwrap();
    let mut scenario = crate::scenario::load_file(&file).unwrap();
    // Only the loaded value is used; the file is not needed to inspect a failure.
    std::fs::remove_dir_all(&dir).unwrap();
    scenario.file = PathBuf::from(format!("scenarios/{name}.yaml"));
    scenario.proves = proves.map(|ids| {
        ids.iter()
            .map(|id| RequirementRef {
                id: (*id).to_owned(),
                position: at(2, 10),
            })
            .collect()
    });
    scenario
}

fn messages(errors: &TraceErrors) -> Vec<String> {
    errors.0.iter().map(ToString::to_string).collect()
}

#[test]
fn a_proves_line_names_the_test_below_it_with_each_id_located() {
    let text = "mod tests {\n    /// Swaps and rolls back.\n    /// Proves: REQ-R2, REQ-C8\n    #[test]\n    #[should_panic]\n    fn round_trip() {}\n}\n";
    let proofs = annotations(Path::new("core/x.rs"), text).unwrap();
    assert_eq!(proofs.len(), 1);
    assert_eq!(proofs[0].test, "round_trip");
    let ids: Vec<(&str, Option<Position>)> = proofs[0]
        .proves
        .iter()
        .map(|r| (r.id.as_str(), r.position))
        .collect();
    assert_eq!(ids, [("REQ-R2", at(3, 17)), ("REQ-C8", at(3, 25))]);

    let visible = "/// Proves: REQ-R2\n#[tokio::test]\npub(crate) async fn visible() {}\n";
    let proofs = annotations(Path::new("core/x.rs"), visible).unwrap();
    assert_eq!(proofs[0].test, "visible");
}

#[test]
fn a_proves_line_anywhere_but_on_a_test_is_an_error() {
    let helper = "/// Proves: REQ-R2\nfn helper() {}\n";
    let module = "//! Proves: REQ-R2\n";
    let stray = "/// Proves: REQ-R2\nconst X: u8 = 1;\n";
    for (text, fragment) in [
        (helper, "`helper`, which is not a #[test]"),
        (module, "not from a `//` or `//!` comment"),
        (stray, "belongs in the doc comment of a #[test] function"),
    ] {
        let errors = annotations(Path::new("x.rs"), text).unwrap_err();
        assert_eq!(errors.len(), 1, "{text}");
        assert_eq!(errors[0].position, at(1, 5), "{text}");
        assert!(errors[0].message.contains(fragment), "{}", errors[0]);
    }
}

/// A `harness = false` suite (libtest-mimic) runs its trials from the `main` of its own file
/// under `tests/`; anywhere else, `main` runs no test.
#[test]
fn the_main_of_a_test_target_proves_what_its_suite_runs() {
    let text = "/// Proves: REQ-R2\nfn main() -> ExitCode {}\n";
    let proofs = annotations(Path::new("harness/tests/system.rs"), text).unwrap();
    assert_eq!(proofs[0].test, "main");
    for file in ["harness/src/main.rs", "harness/tests/selftest/main.rs"] {
        let errors = annotations(Path::new(file), text).unwrap_err();
        assert!(
            errors[0].message.contains("`main`, which is not a #[test]"),
            "{file}: {}",
            errors[0]
        );
    }
}

#[test]
fn a_malformed_proves_list_is_an_error_at_the_bad_id() {
    let text = "#[test]\nfn a() {}\n/// Proves: REQ-R2, R3\n#[test]\nfn b() {}\n";
    let errors = annotations(Path::new("x.rs"), text).unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "x.rs:3:21: `R3` is not a requirement id (REQ-, capital letters, a number: REQ-R2)"
    );
    let twice = "/// Proves: REQ-R2, REQ-R2\n#[test]\nfn b() {}\n";
    let errors = annotations(Path::new("x.rs"), twice).unwrap_err();
    assert_eq!(errors[0].position, at(1, 21));
}

#[test]
fn the_requirements_file_is_validated_at_each_entry() {
    let dup = "requirements:\n  - { id: REQ-R2, title: t, guarantee: g, status: implemented }\n  - { id: REQ-R2, title: t, guarantee: g, status: planned }\n  - { id: R9, title: t, guarantee: ' ', status: planned }\n";
    let errors = Requirements::parse(Path::new("r.yaml"), dup).unwrap_err();
    assert_eq!(
        messages(&errors),
        [
            "r.yaml:3:11: requirement `REQ-R2` is defined twice",
            "r.yaml:4:11: `R9` is not a requirement id (REQ-, capital letters, a number, and optionally .N: REQ-R2, REQ-RC1.1)",
            "r.yaml:4:36: `guarantee` of `R9` must not be empty",
        ]
    );
    let unknown = "requirements:\n  - { id: REQ-R2, title: t, guarantee: g, status: done }\n";
    let errors = Requirements::parse(Path::new("r.yaml"), unknown).unwrap_err();
    assert_eq!(errors.0[0].position.map(|p| p.line), Some(2));
    assert!(errors.0[0].message.contains("done"), "{errors}");
}

/// Proves: REQ-TR1
#[test]
fn an_unknown_id_is_an_error_where_it_is_written() {
    let reqs = requirements();
    let scenarios = [scenario("s", Some(&["REQ-R2", "REQ-NOPE"]))];
    assert_eq!(
        unknown_scenario_ids(&reqs, &scenarios)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "scenarios/s.yaml:2:10: unknown requirement `REQ-NOPE`: docs/requirements.yaml defines no such id"
        ]
    );
    let tests = annotations(
        Path::new("t.rs"),
        "/// Proves: REQ-R9\n#[test]\nfn t() {}\n",
    )
    .unwrap();
    let scenarios = [scenario("s", Some(&["REQ-R2"]))];
    let errors = check(&reqs, &scenarios, &tests, Path::new("/src")).unwrap_err();
    assert_eq!(
        messages(&errors),
        ["/src/t.rs:1:13: unknown requirement `REQ-R9`: docs/requirements.yaml defines no such id"]
    );
}

/// Proves: REQ-TR1
#[test]
fn an_implemented_requirement_needs_a_proof_and_a_planned_one_has_none() {
    let reqs = requirements();
    let unproven = check(&reqs, &[scenario("s", Some(&[]))], &[], Path::new(".")).unwrap_err();
    assert_eq!(
        messages(&unproven),
        [
            "docs/requirements.yaml:2:9: `REQ-R2` is implemented but nothing proves it: name it in a \
          scenario's `proves:` or in a test's `/// Proves:` line, or set its status to `unproven`"
        ]
    );
    let early = check(
        &reqs,
        &[scenario("s", Some(&["REQ-R2", "REQ-C8"]))],
        &[],
        Path::new("."),
    )
    .unwrap_err();
    assert_eq!(
        messages(&early),
        [
            "docs/requirements.yaml:6:9: `REQ-C8` is planned but scenario s proves it: set its \
          status to `implemented`"
        ]
    );
}

#[test]
fn every_scenario_says_what_it_proves() {
    let reqs = requirements();
    let tests = annotations(
        Path::new("t.rs"),
        "/// Proves: REQ-R2\n#[test]\nfn t() {}\n",
    )
    .unwrap();
    let errors = check(&reqs, &[scenario("silent", None)], &tests, Path::new(".")).unwrap_err();
    assert_eq!(
        messages(&errors),
        [
            "scenarios/silent.yaml: the scenario does not say what it proves: add `proves: [REQ-..]` \
          naming requirement ids, or `proves: []` if it proves none yet"
        ]
    );
    let scenarios = [scenario("none-yet", Some(&[]))];
    let trace = check(&reqs, &scenarios, &tests, Path::new(".")).unwrap();
    assert_eq!(trace.proving_nothing.len(), 1);
}

#[test]
fn the_table_lists_each_requirement_with_its_proofs() {
    let reqs = requirements();
    let tests = annotations(
        Path::new("core/t.rs"),
        "/// Proves: REQ-R2\n#[test]\nfn t() {}\n",
    )
    .unwrap();
    let mut narrowed = scenario("cut", Some(&["REQ-R2"]));
    narrowed.filesystems = Some(vec![
        crate::fs_kind::FsKind::Ext4,
        crate::fs_kind::FsKind::Xfs,
    ]);
    let scenarios = [narrowed, scenario("none-yet", Some(&[]))];
    let trace = check(&reqs, &scenarios, &tests, Path::new(".")).unwrap();
    let page = table::render(&trace);
    assert!(
        page.contains(
            "| **REQ-R2** exact topology | implemented | Rollback restores the prior object. | \
             [cut](../scenarios/cut.yaml) (ext4, xfs only) | [`t`](../core/t.rs) | ext4, xfs, \
             build machine |\n"
        ),
        "{page}"
    );
    assert!(
        page.contains(
            "| **REQ-C8** thread safety | planned (issue 10) | The engine is Send and Sync. | \
             none yet | none yet | none yet |\n"
        ),
        "{page}"
    );
    assert!(
        page.contains("1 implemented, 0 unproven, 1 planned."),
        "{page}"
    );
    assert!(
        page.contains("(`proves: []`): [none-yet](../scenarios/none-yet.yaml)."),
        "{page}"
    );
    assert_eq!(
        page,
        table::render(&trace),
        "the table is not deterministic"
    );
}

#[test]
fn with_a_run_s_results_the_table_shows_where_each_requirement_s_scenarios_ran() {
    use crate::fs_kind::FsKind;
    use crate::matrix::TrialId;
    use crate::report::{Failure, FailureKind, Outcome, TrialResult};

    let reqs = requirements();
    let scenarios = [
        scenario("a", Some(&["REQ-R2"])),
        scenario("b", Some(&["REQ-R2"])),
    ];
    let trial = |scenario: &str, fs: FsKind, passed: bool| TrialResult {
        id: TrialId {
            scenario: scenario.to_owned(),
            fs,
        },
        outcome: if passed {
            Outcome::Passed
        } else {
            Outcome::Failed(Failure::new(FailureKind::Expectation, "differs"))
        },
        duration: std::time::Duration::ZERO,
        crash_states: Default::default(),
    };
    let results = [
        trial("a", FsKind::Xfs, true),
        trial("b", FsKind::Xfs, false),
        trial("a", FsKind::Ext4, true),
        trial("unrelated", FsKind::Btrfs, true),
    ];
    let trace = check(&reqs, &scenarios, &[], Path::new(".")).unwrap();
    let page = table::render_with_results(&trace, &results);
    assert!(page.contains("| Ran on (trials passed/run) |"), "{page}");
    assert!(page.contains(" | — | ext4 1/1, xfs 1/2 |\n"), "{page}");

    let page = table::render_with_results(&trace, &results[3..]);
    assert!(page.contains(" | — | not run |\n"), "{page}");
}

/// What `cargo test -- --list` prints (both streams) for a few binaries.
const LISTED: &str = "   Compiling switchyard-harness v0.1.0
     Running unittests src/lib.rs (target/debug/deps/switchyard_harness-1)
golden::tests::equal_bytes: test
trace::tests::a_rule: test

2 tests, 0 benchmarks
     Running tests/traceability.rs (target/debug/deps/traceability-2)
every_requirement_is_proven: test
     Running tests/engine/main.rs (target/debug/deps/engine-3)
sinks::a_failing_sink: test
     Running tests/system.rs (target/debug/deps/system-4)
coreutils-uutils@ext4: test
     Running tests/empty.rs (target/debug/deps/empty-5)

0 tests, 0 benchmarks
     Running benches/matrix.rs (target/debug/deps/matrix-6)
bench_run: benchmark
   Doc-tests switchyard
src/lib.rs - doc_proof (line 5): test
";

fn proof(file: &str, test: &str) -> TestProof {
    TestProof {
        file: PathBuf::from(file),
        test: test.to_owned(),
        proves: vec![RequirementRef {
            id: "REQ-R2".to_owned(),
            position: at(3, 5),
        }],
    }
}

/// A proof counts only as a test of a binary cargo built: its path starts with the modules its
/// file gives it, or, in a crate root, it is a test of the binary built from that very file.
#[test]
fn a_proof_is_a_test_cargo_built_and_listed() {
    let listed = Listed::parse(Path::new("listed.txt"), LISTED);
    let built = [
        proof("harness/src/golden.rs", "equal_bytes"),
        proof("harness/src/trace/tests.rs", "a_rule"),
        proof(
            "harness/tests/traceability.rs",
            "every_requirement_is_proven",
        ),
        proof("core/tests/engine/sinks.rs", "a_failing_sink"),
        proof("harness/tests/system.rs", "main"),
    ];
    check_listed(&built, &listed, Path::new(".")).unwrap();
    let never_built = [
        // In a file no module declares: never compiled.
        proof("core/src/orphan_proof.rs", "equal_bytes"),
        // Under `#[cfg(any())]`, or in a block comment, of a declared file: never listed.
        proof("harness/src/golden.rs", "never_runs"),
        // A name the list has, but from another file.
        proof("harness/src/matrix.rs", "a_rule"),
        proof("harness/tests/other.rs", "every_requirement_is_proven"),
        // The `main` of a suite that lists no trial runs none.
        proof("harness/tests/empty.rs", "main"),
        // Benchmarks and doc tests are not the test binaries' tests.
        proof("harness/benches/matrix.rs", "bench_run"),
        proof("core/src/lib.rs", "doc_proof"),
        // Outside `src/` and `tests/`: no target builds it.
        proof("scripts/gate.rs", "equal_bytes"),
    ];
    for unbuilt in never_built {
        let errors =
            check_listed(std::slice::from_ref(&unbuilt), &listed, Path::new("ws")).expect_err(
                &format!("{} in {} passes", unbuilt.test, unbuilt.file.display()),
            );
        assert_eq!(
            messages(&errors),
            [format!(
                "ws/{}:3:5: `{}` is not among the tests cargo built (listed.txt): a proof must be \
                 a test that compiles and runs; is its file a declared module, and its test \
                 outside any `#[cfg]` that is off and any comment?",
                unbuilt.file.display(),
                unbuilt.test
            )]
        );
    }
}
