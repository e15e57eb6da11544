//! YAML text to the raw shapes of [`super::raw`], through serde-saphyr; its errors become
//! located messages in the format's own words.

use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{DefaultMessageFormatter, DuplicateKeyPolicy, Error, MessageFormatter, Options};

use super::error::{Position, Problem};
use super::model::{ApplyMode, BackupStore, CrashMethod, LinkStyle};
use super::raw::{self, RawScenario};

/// Parses one scenario document.
pub(super) fn parse(text: &str) -> Result<RawScenario, Problem> {
    serde_saphyr::from_str_with_options(text, options()).map_err(|e| problem(&e, text))
}

/// The longest key YAML reads without `?`: a longer one is not read as a key at all.
const MAX_IMPLICIT_KEY_CHARS: usize = 1024;

/// How deeply maps and lists may nest in a scenario file.
const MAX_DEPTH: usize = 32;
/// How many maps, lists and scalars a scenario file may hold.
const MAX_NODES: usize = 100_000;
/// How many bytes of text all the scalars of a scenario file may hold together.
const MAX_SCALAR_BYTES: usize = 16 * 1024 * 1024;

/// How serde-saphyr reads a scenario file.
fn options() -> Options {
    serde_saphyr::options! {
        // A repeated key is an error, never a silent override (this is also the default).
        duplicate_keys: DuplicateKeyPolicy::Error,
        // `true`/`false` only: `yes`, `on` and friends are errors, not booleans.
        strict_booleans: true,
        // A tag such as `!include` or `!secret` would otherwise be ignored without a word.
        reject_unsupported_tags: true,
        // Messages are ours and carry file:line:column; no rendered source snippet.
        with_snippet: false,
        // Scenario files are small; stop a runaway document early.
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            max_nodes: MAX_NODES,
            max_total_scalar_bytes: MAX_SCALAR_BYTES,
        },
    }
}

fn problem(error: &Error, text: &str) -> Problem {
    let error = error.without_snippet();
    // serde-saphyr has no location for input that is not UTF-8 and for reader I/O errors; neither
    // can happen here (the text is a checked `&str`), but should one come, it is reported
    // against the whole file rather than at an invented position.
    let position = error.location().as_ref().and_then(Position::of);
    let message = match position {
        Some(at) if long_key_at(text, at) => format!(
            "a key longer than {MAX_IMPLICIT_KEY_CHARS} characters: YAML reads no longer key \
             (written without `?`), so this line is not a key and its value; shorten it"
        ),
        _ => describe(error),
    };
    Problem { position, message }
}

/// Whether the line at `at` starts, from its column, with a key of more than
/// [`MAX_IMPLICIT_KEY_CHARS`] characters: text up to the first `: ` or a `:` ending the line.
fn long_key_at(text: &str, at: Position) -> bool {
    let Some(line) = text.lines().nth(at.line.saturating_sub(1) as usize) else {
        return false;
    };
    let rest: Vec<char> = line
        .chars()
        .skip(at.column.saturating_sub(1) as usize)
        .collect();
    let key_end = rest
        .iter()
        .enumerate()
        .position(|(i, c)| *c == ':' && rest.get(i + 1).is_none_or(|n| n.is_whitespace()));
    key_end.is_some_and(|end| end > MAX_IMPLICIT_KEY_CHARS)
}

/// The message for one serde-saphyr error, matched on its variant, never on its text.
fn describe(error: &Error) -> String {
    match error {
        Error::SerdeUnknownField {
            field, expected, ..
        } => {
            let context = KEY_CONTEXTS
                .iter()
                .find(|(keys, _)| *keys == expected.as_slice())
                .map_or(String::new(), |(_, context)| format!(" {context}"));
            format!(
                "unknown key `{field}`{context} (expected one of: {})",
                expected.join(", ")
            )
        }
        Error::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let what = VALUE_CONTEXTS
                .iter()
                .find(|(names, _)| *names == expected.as_slice())
                .map_or("value", |(_, what)| what);
            format!(
                "unknown {what} `{variant}` (expected one of: {})",
                expected.join(", ")
            )
        }
        Error::SerdeMissingField { field, .. } => format!("missing key `{field}`"),
        Error::DuplicateMappingKey { key: Some(key), .. } => format!("duplicate key `{key}`"),
        Error::DuplicateMappingKey { key: None, .. } => "duplicate key".to_owned(),
        Error::Unexpected { expected, .. } => {
            format!("wrong type: expected {}", shape(expected))
        }
        Error::NullIntoString { .. } => {
            "wrong type: expected a string, found nothing (write \"\" for an empty string)"
                .to_owned()
        }
        Error::InvalidBooleanStrict { .. } => "wrong type: expected `true` or `false`".to_owned(),
        Error::InvalidScalar { ty, .. } => format!("wrong type: expected {}", scalar(ty)),
        Error::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => format!("wrong type: expected {expected}, found {unexpected}"),
        Error::MultipleDocuments { .. } => {
            "a scenario file holds one YAML document; remove the `---` that starts another"
                .to_owned()
        }
        Error::Eof { .. } => "unexpected end of file: a scenario needs at least `description`, \
                              `policy` and `steps`"
            .to_owned(),
        Error::ExternalMessage { .. } => {
            format!(
                "invalid YAML: {}",
                DefaultMessageFormatter.format_message(error)
            )
        }
        Error::AliasError { error, .. } => describe(error),
        Error::Budget { breach, .. } => limit(breach),
        _ => DefaultMessageFormatter.format_message(error).into_owned(),
    }
}

/// A limit of the parser's budget, stated in words with its value.
fn limit(breach: &BudgetBreach) -> String {
    match breach {
        BudgetBreach::Depth { .. } => format!(
            "maps and lists nest more than {MAX_DEPTH} levels deep, the limit for a scenario file"
        ),
        BudgetBreach::Nodes { .. } => format!(
            "the file holds more than {MAX_NODES} maps, lists and values, the limit for a \
             scenario file"
        ),
        BudgetBreach::ScalarBytes { .. } => format!(
            "the file's values hold more than {} MiB of text, the limit for a scenario file",
            MAX_SCALAR_BYTES / (1024 * 1024)
        ),
        BudgetBreach::Aliases { .. }
        | BudgetBreach::Anchors { .. }
        | BudgetBreach::AliasAnchorRatio { .. }
        | BudgetBreach::MergeKeys { .. }
        | BudgetBreach::RecordedAnchorEvents { .. } => {
            "the file uses more anchors, aliases or merge keys than a scenario file may".to_owned()
        }
        _ => "the file is larger or more complex than a scenario file may be".to_owned(),
    }
}

/// Where an unknown key was found, by the key list of the map it was found in.
const KEY_CONTEXTS: &[(&[&str], &str)] = &[
    (raw::SCENARIO_KEYS, "at the top level"),
    (raw::POLICY_KEYS, "in `policy`"),
    (raw::ENTRY_KEYS, "in an entry"),
    (raw::APPLY_KEYS, "in step `apply`"),
    (raw::LINK_KEYS, "in a link request"),
    (raw::ROLLBACK_KEYS, "in step `rollback`"),
    (raw::PRUNE_KEYS, "in step `prune`"),
    (raw::CRASH_KEYS, "in `crash`"),
];

/// What an unknown name was meant to be, by the names it could have been.
const VALUE_CONTEXTS: &[(&[&str], &str)] = &[
    (LinkStyle::NAMES, "link style"),
    (BackupStore::NAMES, "backup store"),
    (ApplyMode::NAMES, "apply mode"),
    (CrashMethod::NAMES, "crash method"),
];

/// serde-saphyr's name for the node it wanted, in the format's words.
fn shape(expected: &str) -> &str {
    match expected {
        "mapping start" => "a map",
        "sequence start" => "a list",
        "string scalar" => "a string",
        other => other,
    }
}

fn scalar(ty: &str) -> &str {
    match ty {
        "u64" | "u32" => "a whole number, 0 or more",
        "bool" => "`true` or `false`",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(text: &str) -> Problem {
        parse(text).expect_err("the document must not parse")
    }

    fn at(line: u64, column: u64) -> Option<Position> {
        Some(Position { line, column })
    }

    #[test]
    fn unknown_keys_name_their_map() {
        let p = fail("description: d\npolicy: production\nsteps:\n  - rollback: { frob: 1 }\n");
        assert_eq!(p.position, at(4, 17));
        assert_eq!(
            p.message,
            "unknown key `frob` in step `rollback` (expected one of: expect, force, crash)"
        );
    }

    #[test]
    fn unknown_names_say_what_they_name() {
        let p = fail(
            "description: d\npolicy: { preset: production, link_style: sideways }\nsteps: []\n",
        );
        assert_eq!(p.position, at(2, 43));
        assert_eq!(
            p.message,
            "unknown link style `sideways` (expected one of: relative, absolute)"
        );
    }

    #[test]
    fn yes_is_not_a_boolean() {
        let p = fail("description: d\npolicy: production\nsteps:\n  - rollback: { force: yes }\n");
        assert_eq!(p.position, at(4, 24));
        assert_eq!(p.message, "wrong type: expected `true` or `false`");
    }

    #[test]
    fn tags_are_rejected() {
        let p = fail("description: !secret d\npolicy: production\nsteps: []\n");
        assert_eq!(p.position.map(|p| p.line), Some(1));
        assert!(p.message.contains("`!secret`"), "{}", p.message);
    }

    #[test]
    fn one_document_per_file() {
        let p = fail("description: d\npolicy: production\nsteps: []\n---\ndescription: e\n");
        assert_eq!(p.position, at(5, 1));
        assert!(p.message.contains("one YAML document"), "{}", p.message);
    }

    #[test]
    fn parser_limits_are_stated_in_words() {
        let deep = format!(
            "description: d\npolicy: production\nsteps: {}1{}\n",
            "[".repeat(40),
            "]".repeat(40)
        );
        let p = fail(&deep);
        assert_eq!(p.position.map(|p| p.line), Some(3), "{p:?}");
        assert_eq!(
            p.message,
            "maps and lists nest more than 32 levels deep, the limit for a scenario file"
        );
        let many = format!(
            "description: d\npolicy: production\nsteps: [{}]\n",
            "1,".repeat(100_001)
        );
        let p = fail(&many);
        assert!(p.position.is_some(), "{p:?}");
        assert_eq!(
            p.message,
            "the file holds more than 100000 maps, lists and values, the limit for a scenario file"
        );
    }

    #[test]
    fn a_key_over_1024_characters_is_named_as_such() {
        let key = "k".repeat(1100);
        let p = fail(&format!(
            "description: d\npolicy: production\ntree:\n  {key}: {{ dir: true }}\nsteps: []\n"
        ));
        assert_eq!(p.position.map(|p| p.line), Some(4), "{p:?}");
        assert!(p.message.contains("1024"), "{}", p.message);
        assert!(!p.message.contains("wrong type"), "{}", p.message);
    }

    /// serde-saphyr reports a missing key where it read the last key of the map lacking it.
    #[test]
    fn a_missing_key_is_named() {
        let p = fail("description: d\nsteps: []\n");
        assert_eq!(p.position, at(2, 1));
        assert_eq!(p.message, "missing key `policy`");
    }
}
