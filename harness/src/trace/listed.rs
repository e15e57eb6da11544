//! The tests cargo built, as `cargo test -- --list` prints them, and the rule that every proof is
//! one of them.
//!
//! A `/// Proves:` line is read from source text, which cannot tell a test that compiles and runs
//! from one in a file no module declares, under a `#[cfg]` that is off, or inside a block
//! comment. The list can: it holds exactly the tests of the binaries cargo built. Its text is
//! cargo's (the `Running SOURCE (BINARY)` line before each binary's list goes to stderr, so
//! both streams are kept):
//!
//! ```text
//!      Running unittests src/lib.rs (target/debug/deps/switchyard_harness-0123)
//! golden::tests::equal_bytes_match_and_one_changed_byte_does_not: test
//!      Running tests/traceability.rs (target/debug/deps/traceability-4567)
//! every_implemented_requirement_is_proven_and_the_guarantees_table_is_current: test
//! ```

use std::path::{Component, Path, PathBuf};

use super::annotations::{TestProof, is_test_target};
use super::error::{TraceError, TraceErrors};
use crate::input;

/// The tests of each test binary cargo listed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listed {
    file: PathBuf,
    binaries: Vec<Binary>,
}

/// One test binary: the source file of its crate root, as cargo names it (relative to its
/// package: `src/lib.rs`, `tests/selftest/main.rs`), and its tests' paths (`golden::tests::a`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Binary {
    root: PathBuf,
    tests: Vec<String>,
}

impl Listed {
    /// Reads the saved output of `cargo test -- --list` (both streams).
    pub fn load(path: &Path) -> Result<Listed, TraceErrors> {
        let text = input::read_text(path, super::MAX_FILE_BYTES).map_err(|e| {
            TraceErrors(vec![TraceError::new(
                path,
                None,
                format!("cannot read the list of built tests: {e}"),
            )])
        })?;
        Ok(Listed::parse(path, &text))
    }

    pub(super) fn parse(file: &Path, text: &str) -> Listed {
        let mut binaries: Vec<Binary> = Vec::new();
        // Doc tests have no binary of their own and prove nothing here: their lines are skipped.
        let mut in_binary = false;
        for line in text.lines() {
            let line = line.trim_end();
            if let Some(running) = line.trim_start().strip_prefix("Running ") {
                let source = running.strip_prefix("unittests ").unwrap_or(running);
                let root = source.split(" (").next().unwrap_or(source);
                binaries.push(Binary {
                    root: PathBuf::from(root),
                    tests: Vec::new(),
                });
                in_binary = true;
            } else if line.trim_start().starts_with("Doc-tests ") {
                in_binary = false;
            } else if let (true, Some(test), Some(binary)) =
                (in_binary, line.strip_suffix(": test"), binaries.last_mut())
            {
                binary.tests.push(test.to_owned());
            }
        }
        Listed {
            file: file.to_owned(),
            binaries,
        }
    }

    /// Whether `proof` is a test of a listed binary. Its file says where its path must start:
    /// `harness/src/trace/tests.rs` holds `trace::tests::..` (modules below it allowed), and
    /// `core/tests/engine/sinks.rs` holds `sinks::..` of the `engine` target. A test in a crate
    /// root (`lib.rs`, `main.rs`, a file directly under `tests/`) has no module: it must be listed
    /// bare, by the binary built from that very file. The `main` of a `harness = false` target
    /// is listed by the trials its suite runs.
    fn lists(&self, proof: &TestProof) -> bool {
        let Some(modules) = module_path(&proof.file) else {
            return false;
        };
        if modules.is_empty() {
            let own = |b: &&Binary| !b.root.as_os_str().is_empty() && proof.file.ends_with(&b.root);
            let main = proof.test == "main" && is_test_target(&proof.file);
            return self
                .binaries
                .iter()
                .filter(own)
                .any(|b| (main && !b.tests.is_empty()) || b.tests.contains(&proof.test));
        }
        self.binaries.iter().flat_map(|b| &b.tests).any(|listed| {
            let segments: Vec<&str> = listed.split("::").collect();
            segments.len() > modules.len()
                && segments.last() == Some(&proof.test.as_str())
                && segments.iter().zip(&modules).all(|(s, m)| s == m)
        })
    }
}

/// The module path a source file gives its items, from the crate root that declares it: `None`
/// when the file is under no `src/` or `tests/` directory, so no target can build it.
fn module_path(file: &Path) -> Option<Vec<String>> {
    let names: Vec<&str> = file
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => name.to_str(),
            _ => None,
        })
        .collect();
    let base = names.iter().rposition(|n| *n == "src" || *n == "tests")?;
    let mut below: Vec<&str> = names[base + 1..].to_vec();
    if names[base] == "tests" {
        match below.len() {
            // A file directly under `tests/` is a test target's crate root.
            1 => return below[0].ends_with(".rs").then(Vec::new),
            // A test target in a directory (`tests/engine/main.rs`) is named by the directory,
            // which is no module of it.
            _ => {
                below.remove(0);
            }
        }
    }
    let file_name = below.pop()?;
    let stem = file_name.strip_suffix(".rs")?;
    let mut modules: Vec<String> = below.iter().map(|n| (*n).to_owned()).collect();
    let root = matches!(stem, "lib" | "main") && modules.is_empty();
    if !root && stem != "mod" {
        modules.push(stem.to_owned());
    }
    Some(modules)
}

/// Every proof that is not a test of a listed binary, at its `Proves:` line.
pub fn check_listed(
    proofs: &[TestProof],
    listed: &Listed,
    sources: &Path,
) -> Result<(), TraceErrors> {
    let errors = proofs
        .iter()
        .filter(|proof| !listed.lists(proof))
        .map(|proof| {
            let file = if sources == Path::new(".") {
                proof.file.clone()
            } else {
                sources.join(&proof.file)
            };
            TraceError::new(
                &file,
                proof.proves.first().and_then(|r| r.position),
                format!(
                    "`{}` is not among the tests cargo built ({}): a proof must be a test that \
                     compiles and runs; is its file a declared module, and its test outside any \
                     `#[cfg]` that is off and any comment?",
                    proof.test,
                    listed.file.display()
                ),
            )
        })
        .collect();
    TraceErrors::or_ok(errors, ())
}
