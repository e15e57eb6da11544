//! The requirements file: each requirement's id, what it guarantees, and whether it holds today.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::{DefaultMessageFormatter, DuplicateKeyPolicy, MessageFormatter, Spanned};

use super::error::{TraceError, TraceErrors};
use super::id;
use crate::input;
use crate::scenario::Position;

/// Whether a requirement holds today, which decides whether it must have a proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Built, and proven by at least one scenario or test that runs in the test command.
    Implemented,
    /// Claimed by the design, but nothing proves it yet: a known gap, shown as one.
    Unproven,
    /// Not built yet; an open issue adds it.
    Planned,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Implemented => "implemented",
            Status::Unproven => "unproven",
            Status::Planned => "planned",
        }
    }
}

/// One requirement, as the file states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub id: String,
    /// A few words, for the table.
    pub title: String,
    /// One sentence: what is guaranteed.
    pub guarantee: String,
    pub status: Status,
    /// The open issue that builds or proves it.
    pub issue: Option<u32>,
    /// Where its id is written.
    pub position: Option<Position>,
}

/// The requirements file, in its order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirements {
    pub file: PathBuf,
    pub list: Vec<Requirement>,
}

impl Requirements {
    pub fn get(&self, id: &str) -> Option<&Requirement> {
        self.list.iter().find(|r| r.id == id)
    }

    /// Reads and validates the file: known keys only, valid and unique ids, a title and a
    /// guarantee for each.
    pub fn load(path: &Path) -> Result<Requirements, TraceErrors> {
        let whole = |message: String| TraceErrors(vec![TraceError::new(path, None, message)]);
        let text = input::read_text(path, super::MAX_FILE_BYTES)
            .map_err(|e| whole(format!("cannot read the requirements file: {e}")))?;
        Requirements::parse(path, &text)
    }

    pub(super) fn parse(path: &Path, text: &str) -> Result<Requirements, TraceErrors> {
        let options = serde_saphyr::options! {
            duplicate_keys: DuplicateKeyPolicy::Error,
            strict_booleans: true,
            with_snippet: false,
        };
        let raw: RawFile = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
            let e = e.without_snippet();
            TraceErrors(vec![TraceError::new(
                path,
                e.location().as_ref().and_then(Position::of),
                DefaultMessageFormatter.format_message(e).into_owned(),
            )])
        })?;
        let mut errors = Vec::new();
        let mut list: Vec<Requirement> = Vec::new();
        for r in raw.requirements {
            let at = Position::of(&r.id.referenced);
            if !id::is_valid(&r.id.value) {
                errors.push(TraceError::new(
                    path,
                    at,
                    format!(
                        "`{}` is not a requirement id (REQ-, capital letters, a number, and \
                         optionally .N: REQ-R2, REQ-RC1.1)",
                        r.id.value
                    ),
                ));
            } else if list.iter().any(|seen| seen.id == r.id.value) {
                errors.push(TraceError::new(
                    path,
                    at,
                    format!("requirement `{}` is defined twice", r.id.value),
                ));
            }
            for (key, text) in [("title", &r.title), ("guarantee", &r.guarantee)] {
                if text.value.trim().is_empty() {
                    errors.push(TraceError::new(
                        path,
                        Position::of(&text.referenced),
                        format!("`{key}` of `{}` must not be empty", r.id.value),
                    ));
                }
            }
            list.push(Requirement {
                id: r.id.value,
                title: r.title.value.trim().to_owned(),
                guarantee: r.guarantee.value.trim().to_owned(),
                status: r.status,
                issue: r.issue,
                position: at,
            });
        }
        TraceErrors::or_ok(
            errors,
            Requirements {
                file: path.to_path_buf(),
                list,
            },
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    requirements: Vec<RawRequirement>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequirement {
    id: Spanned<String>,
    title: Spanned<String>,
    guarantee: Spanned<String>,
    status: Status,
    #[serde(default)]
    issue: Option<u32>,
}
