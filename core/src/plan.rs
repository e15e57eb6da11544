//! Plans: link and restore requests in a deterministic order, with content-derived ids.

use std::path::{Path, PathBuf};

use serde::Serialize;
use uuid::Uuid;

use crate::error::Error;
use crate::path::SafePath;

/// The namespace of plan ids (UUIDv5 of the plan's content).
const PLAN_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_3c2e_9d4a_4e57_8a0b_5c7d_2e91_f3a4);

/// Replace `target` with a symlink to `source`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkRequest {
    pub source: SafePath,
    pub target: SafePath,
}

/// Put back what the newest backup of `target` holds.
///
/// A restore is the inverse of an earlier link and is final: rolling back a plan reports its
/// restore actions as not reversible (apply the link plan again instead). Within one apply, a
/// failure undoes restores like any other change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreRequest {
    pub target: SafePath,
}

/// One request of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Link(LinkRequest),
    Restore(RestoreRequest),
}

impl Request {
    fn target(&self) -> &SafePath {
        match self {
            Request::Link(r) => &r.target,
            Request::Restore(r) => &r.target,
        }
    }
}

/// What an action does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionKind {
    /// Make the target a symlink to this source (relative to the root).
    Link {
        source: PathBuf,
    },
    Restore,
}

/// One step of a plan, with its deterministic id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    id: Uuid,
    target: SafePath,
    kind: ActionKind,
}

impl Action {
    pub fn id(&self) -> Uuid {
        self.id
    }

    pub fn target(&self) -> &SafePath {
        &self.target
    }

    pub fn kind(&self) -> &ActionKind {
        &self.kind
    }

    /// The link source as text, for link actions.
    pub(crate) fn source_text(&self) -> Option<String> {
        match &self.kind {
            ActionKind::Link { source } => Some(source.to_string_lossy().into_owned()),
            ActionKind::Restore => None,
        }
    }
}

/// A validated, ordered set of actions over one root.
///
/// Actions are sorted by target path, so the same requests in any order give the same plan, and
/// the ids are UUIDv5 of the content (not of the root), so the same plan on any filesystem has
/// the same ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    root: PathBuf,
    id: Uuid,
    actions: Vec<Action>,
}

#[derive(Serialize)]
struct IdContent<'a> {
    kind: &'a str,
    target: &'a Path,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a Path>,
}

impl Plan {
    /// Orders and checks the requests: one root, at least one request, no target twice, no
    /// link to itself.
    pub fn new(requests: impl IntoIterator<Item = Request>) -> Result<Plan, Error> {
        let mut requests: Vec<Request> = requests.into_iter().collect();
        let Some(first) = requests.first() else {
            return Err(Error::EmptyPlan);
        };
        let root = first.target().root().to_owned();
        for request in &requests {
            let mut paths = vec![request.target()];
            if let Request::Link(link) = request {
                if link.source.rel() == link.target.rel() {
                    return Err(Error::SourceIsTarget {
                        source_path: link.source.display_rel(),
                        target: link.target.display_rel(),
                    });
                }
                paths.push(&link.source);
            }
            for path in paths {
                if path.root() != root {
                    return Err(Error::MixedRoots {
                        first: root,
                        other: path.root().to_owned(),
                    });
                }
            }
        }
        requests.sort_by(|a, b| a.target().rel().cmp(b.target().rel()));
        if let Some(pair) = requests
            .windows(2)
            .find(|w| w[0].target().rel() == w[1].target().rel())
        {
            return Err(Error::DuplicateTarget {
                target: pair[0].target().display_rel(),
            });
        }

        let content: Vec<Vec<u8>> = requests
            .iter()
            .map(|r| match r {
                Request::Link(l) => IdContent {
                    kind: "link",
                    target: l.target.rel(),
                    source: Some(l.source.rel()),
                },
                Request::Restore(r) => IdContent {
                    kind: "restore",
                    target: r.target.rel(),
                    source: None,
                },
            })
            .map(|c| to_json(&c))
            .collect();
        let id = Uuid::new_v5(&PLAN_NAMESPACE, &content.concat());
        let actions = requests
            .into_iter()
            .zip(&content)
            .map(|(request, content)| {
                let id = Uuid::new_v5(&id, content);
                match request {
                    Request::Link(l) => Action {
                        id,
                        kind: ActionKind::Link {
                            source: l.source.rel().to_owned(),
                        },
                        target: l.target,
                    },
                    Request::Restore(r) => Action {
                        id,
                        kind: ActionKind::Restore,
                        target: r.target,
                    },
                }
            })
            .collect();
        Ok(Plan { root, id, actions })
    }

    /// A plan of link requests only: the common case.
    pub fn links(links: impl IntoIterator<Item = LinkRequest>) -> Result<Plan, Error> {
        Plan::new(links.into_iter().map(Request::Link))
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn actions(&self) -> &[Action] {
        &self.actions
    }
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    // Serialising plain structs of strings cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(root: &str, source: &str, target: &str) -> Request {
        Request::Link(LinkRequest {
            source: SafePath::new(root, source).unwrap(),
            target: SafePath::new(root, target).unwrap(),
        })
    }

    /// Proves: REQ-C3
    #[test]
    fn order_and_ids_depend_on_content_only() {
        let a = Plan::new([
            link("/a", "opt/ls", "usr/bin/ls"),
            link("/a", "opt/cat", "usr/bin/cat"),
        ])
        .unwrap();
        let b = Plan::new([
            link("/b", "opt/cat", "usr/bin/cat"),
            link("/b", "opt/ls", "usr/bin/ls"),
        ])
        .unwrap();
        assert_eq!(a.id(), b.id());
        let targets: Vec<_> = a
            .actions()
            .iter()
            .map(|x| x.target().display_rel())
            .collect();
        assert_eq!(targets, ["usr/bin/cat", "usr/bin/ls"]);
        for (x, y) in a.actions().iter().zip(b.actions()) {
            assert_eq!(x.id(), y.id());
        }
        let c = Plan::new([link("/a", "opt/ls2", "usr/bin/ls")]).unwrap();
        assert_ne!(a.id(), c.id());
    }

    #[test]
    fn rejects_mixed_roots_duplicates_and_empty_plans() {
        assert!(matches!(
            Plan::new([link("/a", "x", "y"), link("/b", "x", "z")]),
            Err(Error::MixedRoots { .. })
        ));
        assert!(matches!(
            Plan::new([link("/a", "x", "y"), link("/a", "z", "y")]),
            Err(Error::DuplicateTarget { .. })
        ));
        assert!(matches!(Plan::new([]), Err(Error::EmptyPlan)));
    }
}
