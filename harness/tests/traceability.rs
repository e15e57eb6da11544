//! The workspace's own traceability: every implemented requirement of `docs/requirements.yaml`
//! is proven by a scenario or a test, every id named is defined, and `docs/guarantees.md` is the
//! table those inputs give. Also: taking away the proofs of a requirement fails the check, and an
//! unknown id fails `fsmatrix check` at its place in the scenario file.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use switchyard_harness::scenario::{self, Scenario};
use switchyard_harness::trace::{self, Requirements, Status, TestProof};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness lives in the workspace")
        .to_owned()
}

struct Inputs {
    requirements: Requirements,
    scenarios: Vec<Scenario>,
    tests: Vec<TestProof>,
}

fn inputs() -> Inputs {
    let ws = workspace();
    Inputs {
        requirements: Requirements::load(&ws.join(trace::REQUIREMENTS_FILE))
            .unwrap_or_else(|e| panic!("{e}")),
        scenarios: scenario::load_dir(&ws.join("scenarios")).unwrap_or_else(|e| panic!("{e}")),
        tests: trace::scan(&ws).unwrap_or_else(|e| panic!("{e}")),
    }
}

/// Proves: REQ-TR1
#[test]
fn every_implemented_requirement_is_proven_and_the_guarantees_table_is_current() {
    let ws = workspace();
    let inputs = inputs();
    let traced = trace::check(&inputs.requirements, &inputs.scenarios, &inputs.tests, &ws)
        .unwrap_or_else(|e| panic!("the traceability check fails:\n{e}"));
    let table = trace::table::render(&traced);
    let current = fs::read_to_string(ws.join(trace::GUARANTEES_FILE)).unwrap_or_default();
    assert!(
        current == table,
        "{} is not current: run `fsmatrix trace --write {}` and commit it",
        trace::GUARANTEES_FILE,
        trace::GUARANTEES_FILE
    );
}

/// For each implemented requirement in turn, the check fails once its proofs are taken away,
/// and names the requirement where the requirements file defines it.
/// Proves: REQ-TR1
#[test]
fn taking_away_the_proofs_of_any_implemented_requirement_fails_the_check() {
    let ws = workspace();
    let inputs = inputs();
    let implemented: Vec<_> = inputs
        .requirements
        .list
        .iter()
        .filter(|r| r.status == Status::Implemented)
        .collect();
    assert!(implemented.len() >= 20, "{} implemented", implemented.len());
    for requirement in implemented {
        let id = &requirement.id;
        let mut scenarios = inputs.scenarios.clone();
        for s in &mut scenarios {
            if let Some(proves) = &mut s.proves {
                proves.retain(|r| r.id != *id);
            }
        }
        let mut tests = inputs.tests.clone();
        for t in &mut tests {
            t.proves.retain(|r| r.id != *id);
        }
        let errors = trace::check(&inputs.requirements, &scenarios, &tests, &ws)
            .map(|_| ())
            .expect_err(&format!("the check passes without a proof of {id}"));
        let position = requirement
            .position
            .expect("a requirement's id has a position");
        let expected = format!(
            "{}:{}:{}: `{id}` is implemented but nothing proves it",
            ws.join(trace::REQUIREMENTS_FILE).display(),
            position.line,
            position.column
        );
        assert!(
            errors.0.len() == 1 && errors.to_string().starts_with(&expected),
            "expected only `{expected}`, got:\n{errors}"
        );
    }
}

/// A fresh directory for one test, removed at the start of its next run (not at the end of this
/// one, so a failure can be inspected). One tree per checkout.
fn scratch(name: &str) -> PathBuf {
    let mut checkout = DefaultHasher::new();
    env!("CARGO_MANIFEST_DIR").hash(&mut checkout);
    let dir = std::env::temp_dir()
        .join(format!(
            "switchyard-traceability-{:016x}",
            checkout.finish()
        ))
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Proves: REQ-TR1
#[test]
fn fsmatrix_check_reports_an_unknown_requirement_at_its_line_and_column() {
    let dir = scratch("check-unknown-id");
    let scenarios = dir.join("scenarios");
    fs::create_dir_all(&scenarios).unwrap();
    let yaml = "description: d\nproves: [REQ-R2, REQ-NOPE]\npolicy: permissive\nsteps:\n  - apply: { link: [ { source: a, target: b } ] }\n  - rollback: {}\n";
    fs::write(scenarios.join("bad.yaml"), yaml).unwrap();
    let check = |requirements: &Path| {
        Command::new(env!("CARGO_BIN_EXE_fsmatrix"))
            .arg("check")
            .arg("--scenarios")
            .arg(&scenarios)
            .arg("--requirements")
            .arg(requirements)
            .output()
            .unwrap()
    };
    let out = check(&workspace().join(trace::REQUIREMENTS_FILE));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let expected = format!(
        "{}:2:18: unknown requirement `REQ-NOPE`",
        scenarios.join("bad.yaml").display()
    );
    assert!(
        stderr.contains(&expected),
        "expected `{expected}` in:\n{stderr}"
    );
    assert!(!stderr.contains("REQ-R2"), "{stderr}");

    fs::write(scenarios.join("bad.yaml"), yaml.replace(", REQ-NOPE", "")).unwrap();
    let out = check(&workspace().join(trace::REQUIREMENTS_FILE));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Proves: REQ-TR1
#[test]
fn fsmatrix_trace_fails_on_a_test_naming_an_unknown_requirement_and_on_a_stale_table() {
    let dir = scratch("trace-unknown-id");
    let ws = workspace();
    let sources = dir.join("src");
    fs::create_dir_all(&sources).unwrap();
    let trace = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fsmatrix"))
            .arg("trace")
            .arg("--scenarios")
            .arg(ws.join("scenarios"))
            .arg("--requirements")
            .arg(ws.join(trace::REQUIREMENTS_FILE))
            .arg("--sources")
            .args(extra)
            .output()
            .unwrap()
    };
    // The workspace itself passes; the same inputs plus one bad annotation do not.
    let ok = trace(&[ws.to_str().unwrap()]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let table = String::from_utf8(ok.stdout).unwrap();

    let copy = dir.join("ws");
    copy_sources(&ws, &copy);
    fs::write(
        copy.join("core/tests/bogus.rs"),
        "#[test]\nfn a() {}\n\n/// Proves: REQ-A2, REQ-ZZ9\n#[test]\nfn b() {}\n",
    )
    .unwrap();
    let out = trace(&[copy.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let expected = format!(
        "{}:4:21: unknown requirement `REQ-ZZ9`",
        copy.join("core/tests/bogus.rs").display()
    );
    assert!(
        stderr.contains(&expected),
        "expected `{expected}` in:\n{stderr}"
    );

    let stale = dir.join("guarantees.md");
    fs::write(&stale, table.replace("implemented", "done")).unwrap();
    let out = trace(&[ws.to_str().unwrap(), "--check", stale.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is not the current guarantees table"),
        "{stderr}"
    );
    fs::write(&stale, &table).unwrap();
    let out = trace(&[ws.to_str().unwrap(), "--check", stale.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `fsmatrix trace --listed` on the list of one binary cargo built, this one's own: its proofs
/// pass, and every proof of the workspace that binary does not hold fails, at its place.
/// Proves: REQ-TR1
#[test]
fn fsmatrix_trace_fails_on_a_proof_cargo_did_not_build() {
    let dir = scratch("trace-listed");
    let ws = workspace();
    let own = Command::new(std::env::current_exe().unwrap())
        .arg("--list")
        .output()
        .unwrap();
    assert!(own.status.success());
    // Cargo's line before a binary's list, which goes to its own stderr.
    let listed = dir.join("listed.txt");
    fs::write(
        &listed,
        format!(
            "     Running tests/traceability.rs (target/debug/deps/traceability)\n{}",
            String::from_utf8(own.stdout).unwrap()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fsmatrix"))
        .arg("trace")
        .arg("--scenarios")
        .arg(ws.join("scenarios"))
        .arg("--requirements")
        .arg(ws.join(trace::REQUIREMENTS_FILE))
        .arg("--sources")
        .arg(&ws)
        .arg("--listed")
        .arg(&listed)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let unlisted = |test: &str| format!("`{test}` is not among the tests cargo built");
    for test in inputs().tests {
        let file = test.file.to_string_lossy();
        let ours = file.ends_with("harness/tests/traceability.rs");
        assert_eq!(
            stderr.contains(&unlisted(&test.test)),
            !ours,
            "{file}: {}",
            test.test
        );
    }
}

/// `fsmatrix trace` with its requirements file, or the table it checks, a FIFO or a device: a
/// clear error at once, not a wait for a writer that never comes or a read without end.
#[test]
fn fsmatrix_trace_refuses_an_input_that_is_not_a_regular_file_at_once() {
    let dir = scratch("trace-not-regular");
    let ws = workspace();
    let fifo = dir.join("fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let requirements = ws.join(trace::REQUIREMENTS_FILE);
    let zero = Path::new("/dev/zero");
    for (table, requirements, refused) in [
        (None, fifo.as_path(), "not a regular file (a FIFO)"),
        (None, zero, "not a regular file (a character device)"),
        (
            Some(fifo.as_path()),
            requirements.as_path(),
            "not a regular file (a FIFO)",
        ),
        (
            Some(zero),
            requirements.as_path(),
            "not a regular file (a character device)",
        ),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fsmatrix"));
        cmd.arg("trace")
            .arg("--scenarios")
            .arg(ws.join("scenarios"))
            .arg("--sources")
            .arg(&ws)
            .arg("--requirements")
            .arg(requirements);
        if let Some(table) = table {
            cmd.arg("--check").arg(table);
        }
        let (code, stderr) = within_seconds(cmd);
        assert_ne!(code, Some(0), "{stderr}");
        let culprit = table.unwrap_or(requirements);
        assert!(
            stderr.contains(&culprit.display().to_string()) && stderr.contains(refused),
            "expected `{refused}` about {} in:\n{stderr}",
            culprit.display()
        );
    }
}

/// Runs `cmd` to its end, failing the test (and killing it) if that takes over 60 seconds.
fn within_seconds(mut cmd: Command) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("fsmatrix hung: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `.rs` files of the workspace's crates, copied with their layout.
fn copy_sources(ws: &Path, to: &Path) {
    fn walk(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let name = entry.file_name();
            if name.as_encoded_bytes().starts_with(b".") || name == "target" {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                walk(&path, &to.join(&name));
            } else if path.extension().is_some_and(|e| e == "rs") {
                fs::copy(&path, to.join(&name)).unwrap();
            }
        }
    }
    for krate in ["core", "harness"] {
        walk(&ws.join(krate), &to.join(krate));
    }
}
