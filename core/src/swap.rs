//! The two mutations every operation is built from: put a link in place of a target (keeping
//! the prior object as a backup), and put the prior object back.
//!
//! Both keep the target present at every instant: the new object always arrives by an atomic
//! rename over the old one, never by unlink-then-create.

use std::ffi::{OsStr, OsString};
use std::io;
use std::rc::Rc;

use rustix::io::Errno;

use crate::backup::{Names, Sidecar};
use crate::copy::copy_object;
use crate::error::{Error, Step};
use crate::state::{ObjectState, describe_at};
use crate::sys;
use crate::tree::Dir;

/// A target resolved for an operation: its parent directory (held open) and its name.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) dir: Rc<Dir>,
    pub(crate) name: OsString,
    /// Relative to the root, for facts and messages.
    pub(crate) rel: String,
}

impl Target {
    fn io(&self, step: Step) -> impl FnOnce(io::Error) -> Error + '_ {
        move |source| Error::Io {
            target: self.rel.clone(),
            step,
            source,
        }
    }

    fn restore_err(&self, step: Step) -> impl FnOnce(io::Error) -> Error + '_ {
        move |source| Error::Restore {
            target: self.rel.clone(),
            step,
            source,
        }
    }
}

/// Where a generation's backup lives: beside the target or in the backup store.
#[derive(Debug)]
pub(crate) struct BackupSlot {
    pub(crate) dir: Rc<Dir>,
    pub(crate) names: Names,
}

fn is(err: &io::Error, errno: Errno) -> bool {
    err.raw_os_error() == Some(errno.raw_os_error())
}

/// Makes `target` a symlink to `dest`. A prior file or symlink ends up under the slot's backup
/// name, the same inode (or, across filesystems, a synced copy: `Ok(true)`, degraded).
pub(crate) fn link_into_place(
    target: &Target,
    dest: &str,
    prior: &ObjectState,
    slot: &BackupSlot,
    allow_degraded: bool,
) -> Result<bool, Error> {
    let dir = target.dir.fd();
    let temp = slot.names.temp.as_os_str();
    sys::symlink_at(OsStr::new(dest), dir, temp).map_err(target.io(Step::TempLink))?;
    crash_point!(ApplyAfterTempLink, &target.rel);

    if *prior == ObjectState::None {
        return match sys::rename_noreplace(dir, temp, dir, &target.name) {
            Ok(()) => {
                crash_point!(ApplyAfterSwap, &target.rel);
                Ok(false)
            }
            Err(e) => {
                let _ = sys::unlink_if_exists(dir, temp);
                if is(&e, Errno::EXIST) {
                    Err(Error::Raced {
                        target: target.rel.clone(),
                    })
                } else {
                    Err(target.io(Step::Rename)(e))
                }
            }
        };
    }

    match sys::rename_exchange(dir, temp, dir, &target.name) {
        Ok(()) => {}
        Err(e) if is(&e, Errno::INVAL) => return link_by_hard_link(target, slot, allow_degraded),
        Err(e) => {
            let _ = sys::unlink_if_exists(dir, temp);
            return Err(target.io(Step::Exchange)(e));
        }
    }
    crash_point!(ApplyAfterSwap, &target.rel);

    // The prior object now sits under the temporary name; give it its backup name.
    let moved = sys::rename_noreplace(dir, temp, slot.dir.fd(), &slot.names.backup);
    let degraded = match moved {
        Ok(()) => false,
        Err(e) if is(&e, Errno::XDEV) && allow_degraded => {
            match copy_object(
                dir,
                temp,
                slot.dir.fd(),
                &slot.names.backup_tmp,
                &slot.names.backup,
            ) {
                Ok(()) => {
                    sys::unlink_at(dir, temp).map_err(target.io(Step::Unlink))?;
                    true
                }
                Err(e) => return Err(undo_exchange(target, temp, target.io(Step::CopyBackup)(e))),
            }
        }
        Err(e) if is(&e, Errno::XDEV) => {
            let refused = Error::CrossFilesystem {
                target: target.rel.clone(),
            };
            return Err(undo_exchange(target, temp, refused));
        }
        Err(e) => {
            return Err(undo_exchange(
                target,
                temp,
                target.io(Step::BackupRename)(e),
            ));
        }
    };
    crash_point!(ApplyAfterBackupRename, &target.rel);
    Ok(degraded)
}

/// Puts the prior object (under `temp`) back at the target and removes the new link, after a
/// failure between the exchange and the backup rename. If even that fails, the prior object
/// stays under `temp`, where rollback looks for it.
fn undo_exchange(target: &Target, temp: &OsStr, cause: Error) -> Error {
    let dir = target.dir.fd();
    if sys::rename_exchange(dir, temp, dir, &target.name).is_ok() {
        let _ = sys::unlink_if_exists(dir, temp);
    }
    cause
}

/// Where `RENAME_EXCHANGE` is unsupported: hard-link the prior object to its backup name first,
/// then rename the new link over the target. The target is still never missing.
fn link_by_hard_link(
    target: &Target,
    slot: &BackupSlot,
    allow_degraded: bool,
) -> Result<bool, Error> {
    let dir = target.dir.fd();
    let temp = slot.names.temp.as_os_str();
    let backup_dir = slot.dir.fd();
    let cleanup = |e: Error| {
        let _ = sys::unlink_if_exists(dir, temp);
        e
    };
    let degraded = match sys::hard_link(dir, &target.name, backup_dir, &slot.names.backup) {
        Ok(()) => false,
        Err(e) if is(&e, Errno::XDEV) && allow_degraded => {
            copy_object(
                dir,
                &target.name,
                backup_dir,
                &slot.names.backup_tmp,
                &slot.names.backup,
            )
            .map_err(|e| cleanup(target.io(Step::CopyBackup)(e)))?;
            true
        }
        Err(e) if is(&e, Errno::XDEV) => {
            return Err(cleanup(Error::CrossFilesystem {
                target: target.rel.clone(),
            }));
        }
        Err(e) => return Err(cleanup(target.io(Step::BackupRename)(e))),
    };
    if let Err(e) = sys::rename_replace(dir, temp, dir, &target.name) {
        let _ = sys::unlink_if_exists(backup_dir, &slot.names.backup);
        return Err(cleanup(target.io(Step::Rename)(e)));
    }
    crash_point!(ApplyAfterSwap, &target.rel);
    crash_point!(ApplyAfterBackupRename, &target.rel);
    Ok(degraded)
}

/// What a restore found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Restored {
    /// The target already was the prior state.
    AlreadyPrior,
    /// The prior state is back. `degraded`: it came from a copy on another filesystem.
    Done { degraded: bool, forced: bool },
}

/// Puts back the prior state a sidecar describes. Refuses (drift) when the target is neither the
/// prior state nor what the swap placed, unless `force`.
pub(crate) fn restore_prior(
    target: &Target,
    sidecar: &Sidecar,
    slot: &BackupSlot,
    force: bool,
) -> Result<Restored, Error> {
    let dir = target.dir.fd();
    let names = &slot.names;
    let inspect = target.io(Step::Inspect);
    if sidecar.prior.is_at(dir, &target.name).map_err(inspect)? {
        remove_leftovers(target, slot)?;
        return Ok(Restored::AlreadyPrior);
    }
    let placed = sidecar
        .placed
        .is_at(dir, &target.name)
        .map_err(target.io(Step::Inspect))?;
    if !placed && !force {
        return Err(Error::Drift {
            target: target.rel.clone(),
            found: describe_at(dir, &target.name),
        });
    }

    if sidecar.prior == ObjectState::None {
        sys::unlink_at(dir, &target.name).map_err(target.restore_err(Step::Unlink))?;
        crash_point!(RollbackAfterRestore, &target.rel);
        remove_leftovers(target, slot)?;
        return Ok(Restored::Done {
            degraded: false,
            forced: !placed,
        });
    }

    // The prior object is under its backup name, or (after a crash between the exchange and the
    // backup rename) still under the temporary name beside the target.
    let check = |d, n: &OsStr| sidecar.prior.is_at(d, n).map_err(target.io(Step::Inspect));
    let (from_dir, from) = if check(slot.dir.fd(), &names.backup)? {
        (slot.dir.fd(), names.backup.as_os_str())
    } else if check(dir, &names.temp)? {
        (dir, names.temp.as_os_str())
    } else {
        return Err(Error::BackupMissing {
            target: target.rel.clone(),
            backup: names.backup.to_string_lossy().into_owned(),
            expected: sidecar.prior.describe(),
        });
    };

    let degraded = match sys::rename_exchange(from_dir, from, dir, &target.name) {
        Ok(()) => {
            crash_point!(RollbackAfterRestore, &target.rel);
            // What the swap placed (or, forced, the drifted object) now sits where the backup was.
            sys::unlink_at(from_dir, from).map_err(target.restore_err(Step::Unlink))?;
            crash_point!(RollbackAfterUnlink, &target.rel);
            false
        }
        Err(e) if is(&e, Errno::INVAL) => {
            sys::rename_replace(from_dir, from, dir, &target.name)
                .map_err(target.restore_err(Step::Rename))?;
            crash_point!(RollbackAfterRestore, &target.rel);
            crash_point!(RollbackAfterUnlink, &target.rel);
            false
        }
        Err(e) if is(&e, Errno::XDEV) => {
            // The backup is a copy in a store on another filesystem: copy it back beside the
            // target, exchange, then drop the displaced link and the store copy.
            sys::unlink_if_exists(dir, &names.temp).map_err(target.restore_err(Step::Unlink))?;
            copy_object(from_dir, from, dir, &names.backup_tmp, &names.temp)
                .map_err(target.restore_err(Step::CopyBackup))?;
            sys::rename_exchange(dir, &names.temp, dir, &target.name)
                .map_err(target.restore_err(Step::Exchange))?;
            crash_point!(RollbackAfterRestore, &target.rel);
            sys::unlink_at(dir, &names.temp).map_err(target.restore_err(Step::Unlink))?;
            sys::unlink_at(from_dir, from).map_err(target.restore_err(Step::Unlink))?;
            crash_point!(RollbackAfterUnlink, &target.rel);
            true
        }
        Err(e) => return Err(target.restore_err(Step::Exchange)(e)),
    };
    remove_leftovers(target, slot)?;
    Ok(Restored::Done {
        degraded,
        forced: !placed,
    })
}

/// Once the target is its prior state, every name of the generation but the sidecar is debris
/// of an interrupted swap or restore (a temporary link, a displaced link, a partial copy).
fn remove_leftovers(target: &Target, slot: &BackupSlot) -> Result<(), Error> {
    let names = &slot.names;
    let unlink =
        |d, n: &OsString| sys::unlink_if_exists(d, n).map_err(target.restore_err(Step::Unlink));
    unlink(target.dir.fd(), &names.temp)?;
    unlink(target.dir.fd(), &names.backup_tmp)?;
    unlink(slot.dir.fd(), &names.backup)?;
    unlink(slot.dir.fd(), &names.backup_tmp)?;
    unlink(slot.dir.fd(), &names.sidecar_tmp)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    use crate::sys::tests::set_exchange_unsupported;
    use crate::{
        ApplyMode, LinkRequest, MemorySink, Plan, Policy, RollbackOptions, SafePath, Switchyard,
    };

    /// Where `RENAME_EXCHANGE` fails with `EINVAL`, the swap hard-links the backup first and
    /// renames over the target; the rollback renames the backup back. Same inodes throughout.
    #[test]
    fn without_rename_exchange_the_fallback_keeps_the_inode() {
        let dir = Path::new("/tmp/switchyard-unit-tests/exchange-fallback");
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir.join("usr/bin")).unwrap();
        fs::create_dir_all(dir.join("opt")).unwrap();
        fs::write(dir.join("usr/bin/ls"), "GNU ls\n").unwrap();
        fs::write(dir.join("opt/ls"), "uutils ls\n").unwrap();
        let ino = fs::metadata(dir.join("usr/bin/ls")).unwrap().ino();

        let engine = Switchyard::new(Policy::permissive());
        let plan = Plan::links([LinkRequest {
            source: SafePath::new(dir, "opt/ls").unwrap(),
            target: SafePath::new(dir, "usr/bin/ls").unwrap(),
        }])
        .unwrap();
        set_exchange_unsupported(true);
        let applied = engine.apply(&plan, ApplyMode::Commit, &mut MemorySink::default());
        let linked = fs::read_link(dir.join("usr/bin/ls"));
        let backup = fs::metadata(dir.join("usr/bin/.ls.switchyard.1.bak")).map(|m| m.ino());
        let rolled = engine.rollback(
            &plan,
            RollbackOptions::default(),
            &mut MemorySink::default(),
        );
        set_exchange_unsupported(false);

        applied.unwrap();
        assert_eq!(linked.unwrap(), Path::new("../../opt/ls"));
        assert_eq!(backup.unwrap(), ino);
        rolled.unwrap();
        assert_eq!(fs::metadata(dir.join("usr/bin/ls")).unwrap().ino(), ino);
        assert_eq!(fs::read(dir.join("usr/bin/ls")).unwrap(), b"GNU ls\n");
        assert!(!dir.join("usr/bin/.ls.switchyard.1.bak").exists());
        assert!(!dir.join("usr/bin/.ls.switchyard.1.tmp").exists());
    }
}
