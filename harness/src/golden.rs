//! Golden transcripts: `golden/<scenario>.jsonl`, compared byte for byte; a unified diff on a
//! mismatch. Comparing is pure; writing happens only in `fsmatrix golden update`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use similar::TextDiff;

use crate::input;

/// How many lines of a diff a report shows; the whole transcript is kept in a `.jsonl.bad` file.
pub const DIFF_LINES_SHOWN: usize = 40;

/// The largest golden file read: the largest transcript is well under 1 MiB, and a file that is
/// not one (a device, a runaway generator) must not be read into memory whole.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The verdict of one transcript against its golden file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Match,
    Missing,
    /// The unified diff, golden (`---`) against actual (`+++`).
    Mismatch {
        diff: String,
    },
}

pub fn path(dir: &Path, scenario: &str) -> PathBuf {
    dir.join(format!("{scenario}.jsonl"))
}

/// The golden transcript of `scenario`, or `None` if there is none. Read only from a regular
/// file and up to [`MAX_FILE_BYTES`], so that a FIFO or a device under its name can neither hang
/// a run nor fill its memory.
pub fn read(dir: &Path, scenario: &str) -> Result<Option<String>, input::ReadError> {
    match input::read_text(&path(dir, scenario), MAX_FILE_BYTES) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Compares `actual` with `golden`; `label` names the actual side in the diff header
/// (`scenario@fs`).
pub fn compare(golden: Option<&str>, actual: &str, golden_name: &str, label: &str) -> Verdict {
    match golden {
        None => Verdict::Missing,
        Some(expected) if expected == actual => Verdict::Match,
        Some(expected) => Verdict::Mismatch {
            diff: unified_diff(expected, actual, golden_name, label),
        },
    }
}

/// The unified diff of two transcripts, with what a terminal would not show made visible:
/// a carriage return as `\r`, a tab as `\t`, other control characters and invisible Unicode
/// (a BOM, a zero-width or no-break space) escaped, and trailing spaces as `\x20`, so two lines
/// that differ never look the same.
pub fn unified_diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    let diff = TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(old_name, new_name)
        .to_string();
    let mut shown = String::with_capacity(diff.len());
    for line in diff.split_inclusive('\n') {
        let (text, end) = match line.strip_suffix('\n') {
            Some(text) => (text, "\n"),
            None => (line, ""),
        };
        shown.push_str(&visible(text));
        shown.push_str(end);
    }
    shown
}

fn visible(line: &str) -> String {
    let kept = line.trim_end_matches(' ');
    let mut shown: String = kept
        .chars()
        .map(|c| match c {
            '\r' => "\\r".to_owned(),
            '\t' => "\\t".to_owned(),
            c if c.is_control() => c.escape_default().to_string(),
            c if invisible(c) => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect();
    for _ in kept.len()..line.len() {
        shown.push_str("\\x20");
    }
    shown
}

/// Whether `c` shows as nothing, or as a space it is not: the Unicode format characters
/// (general category Cf: a BOM, a zero-width space, direction marks), the space separators
/// other than the ASCII space (Zs: a no-break space, an em space) and the line and paragraph
/// separators (Zl, Zp). The ranges are those of Unicode 18.0.
fn invisible(c: char) -> bool {
    const RANGES: &[(u32, u32)] = &[
        // Cf
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
        // Zs but the ASCII space
        (0x00A0, 0x00A0),
        (0x1680, 0x1680),
        (0x2000, 0x200A),
        (0x202F, 0x202F),
        (0x205F, 0x205F),
        (0x3000, 0x3000),
        // Zl, Zp
        (0x2028, 0x2029),
    ];
    let c = u32::from(c);
    RANGES
        .iter()
        .any(|&(first, last)| (first..=last).contains(&c))
}

/// The golden files of `dir` that no scenario in `scenarios` names, by file name. A missing
/// directory has none.
pub fn orphans(dir: &Path, scenarios: &[&str]) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut orphans = Vec::new();
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".jsonl") else {
            continue;
        };
        if !name.starts_with('.') && !scenarios.contains(&stem) {
            orphans.push(name);
        }
    }
    orphans.sort();
    Ok(orphans)
}

/// The first [`DIFF_LINES_SHOWN`] lines of a diff, with a note of how many more there are.
pub fn head(diff: &str) -> String {
    let lines: Vec<&str> = diff.lines().collect();
    let mut shown = lines
        .iter()
        .take(DIFF_LINES_SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    if lines.len() > DIFF_LINES_SHOWN {
        shown.push_str(&format!(
            "\n... {} more diff lines",
            lines.len() - DIFF_LINES_SHOWN
        ));
    }
    shown
}

/// Writes a golden file atomically (temp file + rename), so a failed update leaves the old one.
pub fn write(dir: &Path, scenario: &str, transcript: &str) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let target = path(dir, scenario);
    let temp = dir.join(format!(".{scenario}.jsonl.tmp"));
    fs::write(&temp, transcript)?;
    fs::rename(&temp, &target)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves: REQ-CI3
    #[test]
    fn equal_bytes_match_and_one_changed_byte_does_not() {
        let golden = "{\"a\":1}\n{\"b\":2}\n";
        assert_eq!(compare(Some(golden), golden, "g", "s@ext4"), Verdict::Match);
        assert_eq!(compare(None, golden, "g", "s@ext4"), Verdict::Missing);
        let Verdict::Mismatch { diff } = compare(
            Some(golden),
            "{\"a\":1}\n{\"b\":3}\n",
            "golden/s.jsonl",
            "s@xfs",
        ) else {
            panic!("a changed byte matched");
        };
        assert!(
            diff.starts_with("--- golden/s.jsonl\n+++ s@xfs\n"),
            "{diff}"
        );
        assert!(diff.contains("-{\"b\":2}\n+{\"b\":3}"), "{diff}");
    }

    #[test]
    fn invisible_differences_are_shown() {
        let golden = "{\"a\":1}\r\n{\"b\":2}  \n{\"c\":\t3}\n";
        let actual = "{\"a\":1}\n{\"b\":2}\n{\"c\": 3}\n";
        let Verdict::Mismatch { diff } = compare(Some(golden), actual, "g", "s@ext4") else {
            panic!("different bytes matched");
        };
        assert!(
            diff.ends_with(
                "-{\"a\":1}\\r\n-{\"b\":2}\\x20\\x20\n-{\"c\":\\t3}\n\
                 +{\"a\":1}\n+{\"b\":2}\n+{\"c\": 3}\n"
            ),
            "{diff}"
        );
    }

    /// Unicode format characters and spaces other than the ASCII one look like nothing or like
    /// a space: a BOM, a zero-width space, a no-break space, a line or paragraph separator.
    #[test]
    fn invisible_unicode_is_shown_and_visible_unicode_kept() {
        let golden = "\u{feff}{\"a\":1}\n{\"b\":\"x y\"}\n{\"c\":\"\u{e9}\u{2028}\u{2029}\"}\n";
        let actual = "{\"a\":1}\n{\"b\":\"x\u{a0}y\u{200b}\"}\n{\"c\":\"\u{e9}\"}\n";
        let Verdict::Mismatch { diff } = compare(Some(golden), actual, "g", "s@ext4") else {
            panic!("different bytes matched");
        };
        assert!(
            diff.ends_with(
                "-\\u{feff}{\"a\":1}\n-{\"b\":\"x y\"}\n-{\"c\":\"\u{e9}\\u{2028}\\u{2029}\"}\n\
                 +{\"a\":1}\n+{\"b\":\"x\\u{a0}y\\u{200b}\"}\n+{\"c\":\"\u{e9}\"}\n"
            ),
            "{diff}"
        );
    }

    #[test]
    fn golden_files_without_a_scenario_are_found() {
        let dir = std::env::temp_dir().join(format!("fsmatrix-orphans-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        for name in [
            "kept.jsonl",
            "gone.jsonl",
            "notes.txt",
            ".hidden.jsonl",
            "a.jsonl.bad",
        ] {
            fs::write(dir.join(name), "").unwrap();
        }
        let found = orphans(&dir, &["kept"]).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found, ["gone.jsonl"]);
        assert_eq!(orphans(&dir, &[]).unwrap(), Vec::<String>::new());
    }

    /// A fresh directory for one test, removed at the start of its next run.
    fn test_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("fsmatrix-golden-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Reads the golden of `scenario` on another thread, failing the test instead of hanging it.
    fn read_within_seconds(dir: &Path, scenario: &str) -> String {
        let (tx, rx) = std::sync::mpsc::channel();
        let (dir, scenario) = (dir.to_owned(), scenario.to_owned());
        std::thread::spawn(move || {
            let _ = tx.send(read(&dir, &scenario).map(|_| ()).map_err(|e| e.to_string()));
        });
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading the golden file hung")
            .expect_err("a golden file that is not a regular file was read")
    }

    #[test]
    fn a_golden_fifo_is_refused_at_once() {
        let dir = test_dir("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.join("fifo.jsonl"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert_eq!(
            read_within_seconds(&dir, "fifo"),
            "not a regular file (a FIFO)"
        );
    }

    #[test]
    fn a_golden_device_is_refused_at_once() {
        let dir = test_dir("device");
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero.jsonl")).unwrap();
        assert_eq!(
            read_within_seconds(&dir, "zero"),
            "not a regular file (a character device)"
        );
    }

    #[test]
    fn a_golden_over_the_size_limit_is_refused_while_reading() {
        let dir = test_dir("large");
        // Sparse: no room on the disk is taken for it.
        fs::File::create(dir.join("large.jsonl"))
            .unwrap()
            .set_len(MAX_FILE_BYTES + 1)
            .unwrap();
        assert_eq!(
            read_within_seconds(&dir, "large"),
            "the file is larger than 16384 KiB"
        );
    }

    #[test]
    fn head_cuts_long_diffs_and_says_so() {
        let long: String = (0..100).map(|i| format!("+line {i}\n")).collect();
        let shown = head(&long);
        assert_eq!(shown.lines().count(), DIFF_LINES_SHOWN + 1);
        assert!(shown.ends_with("... 60 more diff lines"));
    }
}
