//! `/// Proves: REQ-..` lines in the doc comments of the workspace's tests.
//!
//! A test names what it proves with one doc-comment line of its own, directly above its
//! `#[test]` function (among its other doc lines and attributes):
//!
//! ```text
//! /// A reader polling the target never finds it missing.
//! /// Proves: REQ-A2, REQ-R2
//! #[test]
//! fn a_reader_never_sees_the_target_missing() { .. }
//! ```
//!
//! A `Proves:` line anywhere else (on a helper, in a module's docs) is an error: a proof is a
//! test that runs.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{TraceError, TraceErrors};
use super::id;
use crate::scenario::{Position, RequirementRef};

/// One test and the requirements it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestProof {
    /// The source file, relative to the scanned root.
    pub file: PathBuf,
    /// The test function's name.
    pub test: String,
    pub proves: Vec<RequirementRef>,
}

const MARKER: &str = "Proves:";

/// Every annotated test in the `.rs` files below `root` (build output and hidden directories
/// left out), in path order.
pub fn scan(root: &Path) -> Result<Vec<TestProof>, TraceErrors> {
    let mut files = Vec::new();
    rust_files(root, root, &mut files)
        .map_err(|e| TraceErrors(vec![TraceError::new(root, None, e)]))?;
    files.sort();
    let mut proofs = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        // Messages name the file as the caller would reach it.
        let shown = if root == Path::new(".") {
            file.clone()
        } else {
            root.join(&file)
        };
        let text = match fs::read_to_string(&shown) {
            Ok(text) => text,
            Err(e) => {
                errors.push(TraceError::new(&shown, None, format!("cannot read: {e}")));
                continue;
            }
        };
        match annotations(&shown, &text) {
            Ok(found) => proofs.extend(found.into_iter().map(|proof| TestProof {
                file: file.clone(),
                ..proof
            })),
            Err(mut e) => errors.append(&mut e),
        }
    }
    TraceErrors::or_ok(errors, proofs)
}

fn rust_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let name = entry.file_name();
        let hidden = name.as_encoded_bytes().starts_with(b".");
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot stat {}: {e}", entry.path().display()))?;
        if hidden || (kind.is_dir() && name == "target") {
            continue;
        }
        let path = entry.path();
        if kind.is_dir() {
            rust_files(root, &path, out)?;
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "rs") {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

/// The annotated tests of one file.
pub(super) fn annotations(file: &Path, text: &str) -> Result<Vec<TestProof>, Vec<TraceError>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut proofs = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some((column, doc, list)) = marker(line) else {
            continue;
        };
        let at = |column: usize| {
            Some(Position {
                line: i as u64 + 1,
                column: column as u64,
            })
        };
        if !doc {
            errors.push(TraceError::new(
                file,
                at(column),
                format!(
                    "`{MARKER}` is read only from the `///` doc comment of a #[test] function, \
                     not from a `//` or `//!` comment"
                ),
            ));
            continue;
        }
        let proves = match ids(list, column) {
            Ok(proves) => proves
                .into_iter()
                .map(|(id, column)| RequirementRef {
                    id,
                    position: at(column),
                })
                .collect(),
            Err((column, message)) => {
                errors.push(TraceError::new(file, at(column), message));
                continue;
            }
        };
        match test_below(&lines[i + 1..], is_test_target(file)) {
            Ok(test) => proofs.push(TestProof {
                file: file.to_path_buf(),
                test,
                proves,
            }),
            Err(message) => errors.push(TraceError::new(file, at(column), message)),
        }
    }
    if errors.is_empty() {
        Ok(proofs)
    } else {
        Err(errors)
    }
}

/// For a comment line `// Proves: ...`: the 1-based column of the marker, whether the comment
/// is a `///` doc comment, and the text after the marker.
fn marker(line: &str) -> Option<(usize, bool, &str)> {
    let comment = line.trim_start().strip_prefix("//")?;
    let (doc, body) = match comment.strip_prefix('/') {
        Some(body) => (true, body),
        None => (false, comment.strip_prefix('!').unwrap_or(comment)),
    };
    let pad = body.len() - body.trim_start().len();
    let list = body.trim_start().strip_prefix(MARKER)?;
    let column = line[..line.len() - body.len() + pad].chars().count() + 1;
    Some((column, doc, list))
}

/// The ids of a marker line's list, each with its column; or the column and text of the problem.
fn ids(list: &str, marker_column: usize) -> Result<Vec<(String, usize)>, (usize, String)> {
    let list_column = marker_column + MARKER.len();
    let mut found: Vec<(String, usize)> = Vec::new();
    let mut offset = 0;
    for part in list.split(',') {
        let lead = part.len() - part.trim_start().len();
        let id = part.trim().trim_end_matches('.');
        let column = list_column + list[..offset + lead].chars().count();
        offset += part.len() + 1;
        if !id::is_valid(id) {
            let message = if id.is_empty() {
                format!("`{MARKER}` lists no requirement here (write `{MARKER} REQ-R2, REQ-R3`)")
            } else {
                format!("`{id}` is not a requirement id (REQ-, capital letters, a number: REQ-R2)")
            };
            return Err((column, message));
        }
        if found.iter().any(|(seen, _)| seen == id) {
            return Err((column, format!("requirement `{id}` is listed twice")));
        }
        found.push((id.to_owned(), column));
    }
    Ok(found)
}

/// Whether `file` is a test target's own file (directly under a `tests/` directory), whose
/// `main` runs its tests when the target has `harness = false` (a libtest-mimic suite).
pub(super) fn is_test_target(file: &Path) -> bool {
    file.parent()
        .and_then(Path::file_name)
        .is_some_and(|dir| dir == "tests")
}

/// The name of the test function the doc comment belongs to: below it come only doc lines and
/// attributes, one of them `#[test]`, then the `fn`; or, in a test target's own file, its
/// `main`, which runs every trial of a `harness = false` suite.
fn test_below(lines: &[&str], test_target: bool) -> Result<String, String> {
    let mut is_test = false;
    for line in lines {
        let line = line.trim();
        if line.starts_with("///") || line.is_empty() {
            continue;
        }
        if line.starts_with("#[") {
            is_test |= line == "#[test]" || line.ends_with("::test]");
            continue;
        }
        let Some(name) = fn_name(line) else {
            break;
        };
        return if is_test || (test_target && name == "main") {
            Ok(name.to_owned())
        } else {
            Err(format!(
                "`{MARKER}` names the proof of `{name}`, which is not a #[test]: only a test \
                 that runs proves something"
            ))
        };
    }
    Err(format!(
        "`{MARKER}` belongs in the doc comment of a #[test] function, directly above it"
    ))
}

fn fn_name(line: &str) -> Option<&str> {
    let after = line
        .split_once("fn ")
        .filter(|(before, _)| {
            before
                .split_whitespace()
                .all(|w| w.starts_with("pub") || matches!(w, "async" | "unsafe" | "const"))
        })?
        .1;
    let end = after.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    (end > 0).then(|| &after[..end])
}
