//! The history of one target: its generations, oldest first, each the record (sidecar) of one
//! swap by one plan; which of them are live; and backups whose record is lost. Rollback and
//! prune decide from it (the model is stated in the crate docs, "History").

use std::ffi::OsString;

use uuid::Uuid;

use crate::backup::{Names, Sidecar};
use crate::engine::Trees;
use crate::error::{Error, Step};
use crate::state::{ObjectState, describe_at};
use crate::swap::{BackupSlot, Target};

/// One generation: what a plan's swap replaced and placed, and where its backup lives.
#[derive(Debug)]
pub(crate) struct Generation {
    pub(crate) sidecar: Sidecar,
    pub(crate) slot: BackupSlot,
    /// The object the swap replaced is still on disk under the generation's backup (or
    /// temporary) name: the swap was not rolled back.
    pub(crate) keeps_prior: bool,
    /// The swap is in effect: the target is what it placed, under every newer live generation,
    /// and its prior object is still kept. Rolling back pops live generations, newest first.
    pub(crate) live: bool,
}

#[derive(Debug)]
pub(crate) struct History {
    /// Oldest first.
    pub(crate) generations: Vec<Generation>,
    /// Backups on disk whose sidecar is gone: which plan placed them is no longer known.
    pub(crate) orphans: Vec<OsString>,
}

impl History {
    /// Reads every generation of `target` and works out which are live, from the newest down:
    /// a generation is live when the target (as the newer live generations would restore it)
    /// is what it placed, and it still keeps its prior object (or had none).
    pub(crate) fn read(trees: &mut Trees, target: &Target) -> Result<History, Error> {
        let inspect = |source| Error::Io {
            target: target.rel.clone(),
            step: Step::Inspect,
            source,
        };
        let Some(dir) = trees.backup_dir(target, None)? else {
            return Ok(History {
                generations: Vec::new(),
                orphans: Vec::new(),
            });
        };
        let mut generations = Vec::new();
        for generation in trees.generations(&dir, target)? {
            let names = Names::new(&target.name, generation);
            let sidecar = Sidecar::read(dir.fd(), &names)
                .map_err(|source| Error::Io {
                    target: target.rel.clone(),
                    step: Step::ReadSidecar,
                    source,
                })?
                .map_err(|reason| Error::BadSidecar {
                    sidecar: names.sidecar.to_string_lossy().into_owned(),
                    reason,
                })?;
            let keeps_prior = sidecar.prior != ObjectState::None
                && (sidecar
                    .prior
                    .is_at(dir.fd(), &names.backup)
                    .map_err(inspect)?
                    || sidecar
                        .prior
                        .is_at(target.dir.fd(), &names.temp)
                        .map_err(inspect)?);
            let slot = BackupSlot {
                dir: std::rc::Rc::clone(&dir),
                names,
            };
            generations.push(Generation {
                sidecar,
                slot,
                keeps_prior,
                live: false,
            });
        }
        // A directory or a device at the target: no swap of ours placed that.
        let mut now = ObjectState::capture(target.dir.fd(), &target.name)
            .map_err(inspect)?
            .ok();
        for generation in generations.iter_mut().rev() {
            let sidecar = &generation.sidecar;
            if now.as_ref() == Some(&sidecar.placed)
                && (sidecar.prior == ObjectState::None || generation.keeps_prior)
            {
                generation.live = true;
                now = Some(sidecar.prior.clone());
            }
        }
        let orphans = trees
            .orphan_backups(&dir, target)?
            .into_iter()
            .map(|generation| Names::new(&target.name, generation).backup)
            .collect();
        Ok(History {
            generations,
            orphans,
        })
    }

    /// The generation a rollback of `plan` undoes: its newest live one, or else its newest
    /// (whose restore then finds it already undone, or fails saying why).
    pub(crate) fn of_plan(&self, plan: Uuid) -> Option<usize> {
        let of_plan = || {
            self.generations
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, g)| g.sidecar.plan_id == plan)
        };
        of_plan()
            .find(|(_, g)| g.live)
            .or_else(|| of_plan().next())
            .map(|(i, _)| i)
    }

    /// A live generation newer than generation `i` that another plan placed: it must be rolled
    /// back before `i` can be.
    pub(crate) fn live_above(&self, i: usize) -> Option<&Generation> {
        let plan = self.generations[i].sidecar.plan_id;
        self.generations[i + 1..]
            .iter()
            .rev()
            .find(|g| g.live && g.sidecar.plan_id != plan)
    }

    /// Rolling back a generation under another plan's live one would replace that plan's link,
    /// and that plan's rollback would later put its own prior object (this plan's link) over the
    /// original: refused, forced or not.
    pub(crate) fn covered(&self, target: &Target, i: usize) -> Result<(), Error> {
        match self.live_above(i) {
            Some(above) if self.generations[i].live => Err(Error::Covered {
                target: target.rel.clone(),
                found: describe_at(target.dir.fd(), &target.name),
                later: above.sidecar.plan_id,
            }),
            _ => Ok(()),
        }
    }
}
