//! The shapes serde-saphyr reads a scenario file into, before any rule of the format is checked.
//!
//! Two kinds of shape:
//! - Maps with fixed keys are derived structs with `deny_unknown_fields`. serde-saphyr itself
//!   reports an unknown, duplicate, missing or mistyped key there, at the offending node.
//! - A node that may take several forms (an entry or `absent`, a policy name or map, a step, ...)
//!   is a [`Node`], which accepts any YAML shape. Which shapes are allowed is decided during
//!   validation, so that error carries the format's wording and the node's own location.
//!
//! Every value a rule may later reject is wrapped in [`Spanned`], which serde-saphyr fills with
//! the line and column of the node.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::model::{ApplyMode, BackupStore, CrashMethod, LinkStyle};

/// A YAML node of any shape. Maps and sequences are read on as `M` and `S`; a scalar keeps its
/// text (a number, its value as text: the source spelling is still at the node's span).
#[derive(Debug)]
pub(super) enum Node<M = IgnoredAny, S = IgnoredAny> {
    Null,
    Bool(bool),
    Number(String),
    Text(String),
    Seq(S),
    Map(M),
}

impl<M, S> Node<M, S> {
    /// What the node is, for "found ..." in messages.
    pub(super) fn describe(&self) -> String {
        match self {
            Node::Null => "nothing (null)".to_owned(),
            Node::Bool(b) => format!("`{b}`"),
            Node::Number(n) => format!("the number {n}"),
            Node::Text(s) => format!("`{s}`"),
            Node::Seq(_) => "a list".to_owned(),
            Node::Map(_) => "a map".to_owned(),
        }
    }
}

impl<'de, M: Deserialize<'de>, S: Deserialize<'de>> Deserialize<'de> for Node<M, S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor<M, S>(PhantomData<(M, S)>);

        impl<'de, M: Deserialize<'de>, S: Deserialize<'de>> Visitor<'de> for NodeVisitor<M, S> {
            type Value = Node<M, S>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML node")
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Node::Null)
            }

            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Node::Null)
            }

            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
                Ok(Node::Bool(b))
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
                Ok(Node::Number(n.to_string()))
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
                Ok(Node::Number(n.to_string()))
            }

            fn visit_i128<E: de::Error>(self, n: i128) -> Result<Self::Value, E> {
                Ok(Node::Number(n.to_string()))
            }

            fn visit_u128<E: de::Error>(self, n: u128) -> Result<Self::Value, E> {
                Ok(Node::Number(n.to_string()))
            }

            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
                Ok(Node::Number(n.to_string()))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Node::Text(s.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                S::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Node::Seq)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                M::deserialize(de::value::MapAccessDeserializer::new(map)).map(Node::Map)
            }
        }

        deserializer.deserialize_any(NodeVisitor(PhantomData))
    }
}

/// An optional key. Unlike `Option`, a key written without a value (`file:`, `expect: ~`) is
/// not taken for a missing one: it reaches `T`, which rejects the null (or, for a [`Node`],
/// keeps it for validation to reject).
#[derive(Debug)]
pub(super) struct Given<T>(pub Option<T>);

impl<T> Default for Given<T> {
    fn default() -> Self {
        Given(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Given<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(|value| Given(Some(value)))
    }
}

/// A map with free-form keys (paths, xattr names), in document order, each key with its location.
#[derive(Debug)]
pub(super) struct Pairs<V>(pub Vec<(Spanned<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Pairs<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for PairsVisitor<V> {
            type Value = Pairs<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(key) = map.next_key()? {
                    pairs.push((key, map.next_value()?));
                }
                Ok(Pairs(pairs))
            }
        }

        deserializer.deserialize_map(PairsVisitor(PhantomData))
    }
}

/// An entry of `tree`, `check` or `write`: a map, or the scalar `absent`.
pub(super) type EntryNode = Spanned<Node<RawEntry>>;

pub(super) const SCENARIO_KEYS: &[&str] = &[
    "description",
    "proves",
    "filesystems",
    "why",
    "policy",
    "tree",
    "steps",
];

/// A whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub description: Spanned<String>,
    /// Requirement ids (`REQ-...`), checked against the requirements file by the traceability
    /// check, not here: the scenario format does not depend on that file.
    #[serde(default)]
    pub proves: Given<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub filesystems: Given<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub why: Given<Spanned<String>>,
    /// A preset name, or a map.
    pub policy: Spanned<Node<RawPolicy>>,
    #[serde(default)]
    pub tree: Given<Pairs<EntryNode>>,
    pub steps: Spanned<Vec<Spanned<Node<RawStep>>>>,
}

pub(super) const POLICY_KEYS: &[&str] = &[
    "preset",
    "link_style",
    "require_lock",
    "require_rescue",
    "require_smoke",
    "auto_rollback",
    "allow_degraded",
    "lock_manager",
    "lock_timeout_ms",
    "smoke_runner",
    "smoke_timeout_ms",
    "smoke_args",
    "backup_store",
];

/// The map form of `policy`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub preset: Spanned<String>,
    #[serde(default)]
    pub link_style: Given<LinkStyle>,
    #[serde(default)]
    pub require_lock: Given<bool>,
    #[serde(default)]
    pub require_rescue: Given<bool>,
    #[serde(default)]
    pub require_smoke: Given<bool>,
    #[serde(default)]
    pub auto_rollback: Given<bool>,
    #[serde(default)]
    pub allow_degraded: Given<bool>,
    #[serde(default)]
    pub lock_manager: Given<bool>,
    #[serde(default)]
    pub lock_timeout_ms: Given<u64>,
    #[serde(default)]
    pub smoke_runner: Given<bool>,
    #[serde(default)]
    pub smoke_timeout_ms: Given<u64>,
    #[serde(default)]
    pub smoke_args: Given<Vec<Spanned<String>>>,
    #[serde(default)]
    pub backup_store: Given<BackupStore>,
}

pub(super) const ENTRY_KEYS: &[&str] = &["file", "symlink", "dir", "mode", "owner", "xattrs"];

/// The map form of an entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEntry {
    #[serde(default)]
    pub file: Given<Spanned<String>>,
    #[serde(default)]
    pub symlink: Given<Spanned<String>>,
    /// Must be an empty map.
    #[serde(default)]
    pub dir: Given<Spanned<Node<Pairs<IgnoredAny>>>>,
    /// Must be a quoted string: a number here is the classic `0755` read as decimal.
    #[serde(default)]
    pub mode: Given<Spanned<Node>>,
    #[serde(default)]
    pub owner: Given<Spanned<String>>,
    #[serde(default)]
    pub xattrs: Given<Pairs<Spanned<String>>>,
}

pub(super) const STEP_NAMES: &[&str] = &[
    "apply", "rollback", "check", "write", "fault", "clear", "prune",
];

/// A step: a map that should hold exactly one key, naming the step.
#[derive(Debug)]
pub(super) struct RawStep {
    /// `None` for an empty map.
    pub key: Option<Spanned<String>>,
    pub body: StepBody,
    /// A second key, if the map has one.
    pub extra: Option<Spanned<String>>,
}

#[derive(Debug)]
pub(super) enum StepBody {
    Apply(Spanned<Node<RawApply>>),
    Rollback(Spanned<Node<RawRollback>>),
    Check(Spanned<Node<Pairs<EntryNode>>>),
    Write(Spanned<Node<Pairs<EntryNode>>>),
    Fault(Spanned<Node<Pairs<Spanned<String>>>>),
    Clear(Spanned<Node<Pairs<Spanned<String>>>>),
    Prune(Spanned<Node<RawPrune>>),
    /// The key is not a step name (or the map is empty); the value was skipped.
    Unknown,
}

impl<'de> Deserialize<'de> for RawStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StepVisitor;

        impl<'de> Visitor<'de> for StepVisitor {
            type Value = RawStep;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a step")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let Some(key) = map.next_key::<Spanned<String>>()? else {
                    return Ok(RawStep {
                        key: None,
                        body: StepBody::Unknown,
                        extra: None,
                    });
                };
                let body = match key.value.as_str() {
                    "apply" => StepBody::Apply(map.next_value()?),
                    "rollback" => StepBody::Rollback(map.next_value()?),
                    "check" => StepBody::Check(map.next_value()?),
                    "write" => StepBody::Write(map.next_value()?),
                    "fault" => StepBody::Fault(map.next_value()?),
                    "clear" => StepBody::Clear(map.next_value()?),
                    "prune" => StepBody::Prune(map.next_value()?),
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                        StepBody::Unknown
                    }
                };
                let extra = map.next_key::<Spanned<String>>()?;
                if extra.is_some() {
                    map.next_value::<IgnoredAny>()?;
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                }
                Ok(RawStep {
                    key: Some(key),
                    body,
                    extra,
                })
            }
        }

        deserializer.deserialize_map(StepVisitor)
    }
}

pub(super) const APPLY_KEYS: &[&str] = &["link", "restore", "mode", "expect", "crash"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApply {
    #[serde(default)]
    pub link: Given<Vec<RawLink>>,
    #[serde(default)]
    pub restore: Given<Vec<String>>,
    #[serde(default)]
    pub mode: Given<Spanned<ApplyMode>>,
    #[serde(default)]
    pub expect: Given<Spanned<String>>,
    #[serde(default)]
    pub crash: Given<Spanned<Node<RawCrash>>>,
}

pub(super) const LINK_KEYS: &[&str] = &["source", "target"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLink {
    pub source: String,
    pub target: String,
}

pub(super) const ROLLBACK_KEYS: &[&str] = &["expect", "force", "crash"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRollback {
    #[serde(default)]
    pub expect: Given<Spanned<String>>,
    #[serde(default)]
    pub force: Given<bool>,
    #[serde(default)]
    pub crash: Given<Spanned<Node<RawCrash>>>,
}

pub(super) const PRUNE_KEYS: &[&str] = &["keep", "expect"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrune {
    pub keep: Spanned<u64>,
    #[serde(default)]
    pub expect: Given<Spanned<String>>,
}

pub(super) const CRASH_KEYS: &[&str] = &["at", "how"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCrash {
    /// `every`, or a list of crash point names.
    pub at: Spanned<Node<IgnoredAny, Vec<Spanned<String>>>>,
    pub how: Spanned<Vec<Spanned<CrashMethod>>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key lists above are what messages quote and how they find their context; they must
    /// be exactly the fields serde derives for each struct.
    fn fields_of<T: for<'de> Deserialize<'de> + fmt::Debug>() -> Vec<&'static str> {
        match serde_saphyr::from_str::<T>("zz_not_a_key: 1\n")
            .unwrap_err()
            .without_snippet()
        {
            serde_saphyr::Error::SerdeUnknownField { expected, .. } => expected.clone(),
            other => panic!("expected an unknown-field error, got {other:?}"),
        }
    }

    #[test]
    fn key_lists_match_the_derived_structs() {
        assert_eq!(fields_of::<RawScenario>(), SCENARIO_KEYS);
        assert_eq!(fields_of::<RawPolicy>(), POLICY_KEYS);
        assert_eq!(fields_of::<RawEntry>(), ENTRY_KEYS);
        assert_eq!(fields_of::<RawApply>(), APPLY_KEYS);
        assert_eq!(fields_of::<RawLink>(), LINK_KEYS);
        assert_eq!(fields_of::<RawRollback>(), ROLLBACK_KEYS);
        assert_eq!(fields_of::<RawPrune>(), PRUNE_KEYS);
        assert_eq!(fields_of::<RawCrash>(), CRASH_KEYS);
    }

    /// The same for the names of the enums serde derives.
    fn variants_of<T: for<'de> Deserialize<'de> + fmt::Debug>() -> Vec<&'static str> {
        match serde_saphyr::from_str::<T>("zz_not_a_name\n")
            .unwrap_err()
            .without_snippet()
        {
            serde_saphyr::Error::SerdeUnknownVariant { expected, .. } => expected.clone(),
            other => panic!("expected an unknown-variant error, got {other:?}"),
        }
    }

    #[test]
    fn name_lists_match_the_derived_enums() {
        assert_eq!(variants_of::<LinkStyle>(), LinkStyle::NAMES);
        assert_eq!(variants_of::<BackupStore>(), BackupStore::NAMES);
        assert_eq!(variants_of::<ApplyMode>(), ApplyMode::NAMES);
        assert_eq!(variants_of::<CrashMethod>(), CrashMethod::NAMES);
    }

    #[test]
    fn given_tells_a_null_key_from_a_missing_one() {
        #[derive(Debug, Deserialize)]
        struct Doc {
            #[serde(default)]
            a: Given<Node>,
            #[serde(default)]
            b: Given<Node>,
        }
        let doc: Doc = serde_saphyr::from_str("a:\n").unwrap();
        assert!(matches!(doc.a, Given(Some(Node::Null))));
        assert!(doc.b.0.is_none());
    }
}
