//! Status: what each link of a plan is now, read from the sidecars and the tree, changing
//! nothing (no lock, no facts).

use serde::Serialize;
use uuid::Uuid;

use crate::engine::{Switchyard, Trees};
use crate::error::{Error, Step};
use crate::history::{Generation, History};
use crate::plan::{ActionKind, Plan};
use crate::swap::second_original;

/// Where one link of a plan stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// The target is the link this plan placed.
    Switched,
    /// The plan swapped the target once; it is its prior object again.
    RolledBack,
    /// The plan never swapped this target (never committed, or the target already was the link).
    NotApplied,
    /// A later plan swapped the target after this one.
    Superseded,
    /// The target is neither what the plan placed nor what it replaced: someone else changed it.
    Drifted,
}

/// One link target of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TargetStatus {
    pub plan_id: Uuid,
    pub target: String,
    pub state: LinkState,
    /// The generation of this plan's newest sidecar of the target.
    pub generation: Option<u32>,
}

impl Switchyard {
    /// The state of every link target of `plan`, in plan order. Read-only.
    pub fn status(&self, plan: &Plan) -> Result<Vec<TargetStatus>, Error> {
        let mut trees = Trees::open(plan, &self.policy)?;
        let mut found = Vec::new();
        for action in plan.actions() {
            if !matches!(action.kind(), ActionKind::Link { .. }) {
                continue;
            }
            let target = trees.target(action)?;
            let history = History::read(&mut trees, &target)?;
            let ours = history
                .generations
                .iter()
                .enumerate()
                .rev()
                .find(|(_, g)| g.sidecar.plan_id == plan.id());
            let (state, generation) = match ours {
                None => (LinkState::NotApplied, None),
                Some((i, Generation { sidecar, slot, .. })) => {
                    let is_at = |state: &crate::state::ObjectState| {
                        state
                            .is_at(target.dir.fd(), &target.name)
                            .map_err(|source| Error::Io {
                                target: target.rel.clone(),
                                step: Step::Inspect,
                                source,
                            })
                    };
                    // Only a newer generation still in effect covers this one: once it was
                    // rolled back, this plan's link stands again.
                    let state = if history.generations[i + 1..].iter().any(|g| g.live) {
                        LinkState::Superseded
                    } else if is_at(&sidecar.placed)? {
                        LinkState::Switched
                    } else if is_at(&sidecar.prior)? {
                        // Equal to the prior object while the original is still kept (a
                        // reinstall) is what rollback refuses as drift: say so here too.
                        if second_original(&target, sidecar, slot)?.is_some() {
                            LinkState::Drifted
                        } else {
                            LinkState::RolledBack
                        }
                    } else {
                        LinkState::Drifted
                    };
                    (state, Some(sidecar.generation))
                }
            };
            found.push(TargetStatus {
                plan_id: plan.id(),
                target: target.rel,
                state,
                generation,
            });
        }
        Ok(found)
    }
}
