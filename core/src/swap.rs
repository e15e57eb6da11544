//! The two mutations every operation is built from: put a link in place of a target (keeping
//! the prior object as a backup), and put the prior object back.
//!
//! Both keep the target present at every instant: the new object always arrives by an atomic
//! rename over the old one, never by unlink-then-create.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::rc::Rc;

use rustix::fs::FileType;
use rustix::io::Errno;

use crate::backup::{EngineFile, Names, Sidecar};
use crate::copy::{copy_object, is_interrupted_copy};
use crate::engine::Trees;
use crate::error::{Error, Step};
use crate::state::{ObjectState, describe_at};
use crate::sys;
use crate::tree::{Dir, display};

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

    /// The error of moving the prior object to `slot`'s backup name.
    fn backup_rename_err(&self, slot: &BackupSlot, source: io::Error) -> Error {
        let (backup, in_store) = located(self, &slot.dir, &slot.names.backup);
        Error::BackupRename {
            target: self.rel.clone(),
            backup,
            in_store,
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
/// name, the same inode (or, across filesystems, a synced copy: `Ok(true)`, degraded). `prior`
/// is the state preflight found, with its inode (device, number) when known: an object that is
/// not that one is put back and the swap fails with drift.
pub(crate) fn link_into_place(
    target: &Target,
    dest: &str,
    (prior, identity): (&ObjectState, Option<(u64, u64)>),
    slot: &BackupSlot,
    allow_degraded: bool,
) -> Result<bool, Error> {
    let dir = target.dir.fd();
    let temp = slot.names.temp.as_os_str();
    sys::symlink_at(OsStr::new(dest), dir, temp).map_err(target.io(Step::TempLink))?;
    if defect!(ApplyUnlinkBeforeRename) && *prior != ObjectState::None {
        let backup = (slot.dir.fd(), slot.names.backup.as_os_str());
        sys::rename_noreplace(dir, &target.name, backup.0, backup.1)
            .map_err(|e| target.backup_rename_err(slot, e))?;
        crash_point!(ApplyAfterTempLink, &target.rel);
        sys::rename_noreplace(dir, temp, dir, &target.name).map_err(target.io(Step::Rename))?;
        crash_point!(ApplyAfterSwap, &target.rel);
        crash_point!(ApplyAfterBackupRename, &target.rel);
        return Ok(false);
    }
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
        Err(e) if is(&e, Errno::INVAL) => {
            return link_by_hard_link(target, (prior, identity), slot, allow_degraded);
        }
        Err(e) => {
            let _ = sys::unlink_if_exists(dir, temp);
            return Err(target.io(Step::Exchange)(e));
        }
    }
    crash_point!(ApplyAfterSwap, &target.rel);
    match is_inspected(target, dir, temp, (prior, identity)) {
        Ok(true) => {}
        Ok(false) => {
            let drift = Error::Drift {
                target: target.rel.clone(),
                found: format!("{}, put there after preflight", describe_at(dir, temp)),
            };
            return Err(undo_exchange(target, temp, drift));
        }
        Err(e) => return Err(undo_exchange(target, temp, e)),
    }

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
                    // The copy's name in the store is durable before the last copy on the
                    // target's filesystem goes: a power cut in between keeps one of them.
                    if let Err(e) = sys::fsync(slot.dir.fd()) {
                        let _ = sys::unlink_if_exists(slot.dir.fd(), &slot.names.backup);
                        return Err(undo_exchange(target, temp, target.io(Step::Sync)(e)));
                    }
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
                target.backup_rename_err(slot, e),
            ));
        }
    };
    crash_point!(ApplyAfterBackupRename, &target.rel);
    Ok(degraded)
}

/// Puts the prior object (under `temp`) back at the target and removes the new link, after a
/// failure between the exchange and the backup rename. If even that fails, the prior object
/// stays under `temp`, where rollback looks for it, and the error says so
/// ([`Error::Stranded`]): the caller must keep the sidecar that describes it.
fn undo_exchange(target: &Target, temp: &OsStr, cause: Error) -> Error {
    let dir = target.dir.fd();
    match sys::rename_exchange(dir, temp, dir, &target.name) {
        Ok(()) => {
            let _ = sys::unlink_if_exists(dir, temp);
            cause
        }
        Err(undo) => Error::Stranded {
            target: target.rel.clone(),
            kept: temp.to_string_lossy().into_owned(),
            cause: Box::new(cause),
            undo,
        },
    }
}

/// Whether `dir/name` is the object preflight inspected: the same inode (when known) and the
/// same fingerprint. Checked on what an exchange took out, so a target replaced in between is
/// never kept as the backup under a sidecar that describes another object.
fn is_inspected(
    target: &Target,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    (prior, identity): (&ObjectState, Option<(u64, u64)>),
) -> Result<bool, Error> {
    let meta = sys::lstat_at(dir, name).map_err(target.io(Step::Inspect))?;
    let same_inode = match (identity, &meta) {
        (_, None) => false,
        (Some(id), Some(m)) => (m.dev, m.ino) == id,
        (None, Some(_)) => true,
    };
    Ok(same_inode
        && prior
            .is_at_given(dir, name, meta)
            .map_err(target.io(Step::Inspect))?)
}

/// Where `RENAME_EXCHANGE` is unsupported: hard-link the prior object to its backup name first,
/// then rename the new link over the target. The target is still never missing.
fn link_by_hard_link(
    target: &Target,
    (prior, identity): (&ObjectState, Option<(u64, u64)>),
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
    if defect!(FallbackWithoutBackup) {
        sys::rename_replace(dir, temp, dir, &target.name).map_err(target.io(Step::Rename))?;
        return Ok(false);
    }
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
            // The rename below drops the original's last name on the target's filesystem.
            if let Err(e) = sys::fsync(backup_dir) {
                let _ = sys::unlink_if_exists(backup_dir, &slot.names.backup);
                return Err(cleanup(target.io(Step::Sync)(e)));
            }
            true
        }
        Err(e) if is(&e, Errno::XDEV) => {
            return Err(cleanup(Error::CrossFilesystem {
                target: target.rel.clone(),
            }));
        }
        Err(e) => return Err(cleanup(target.backup_rename_err(slot, e))),
    };
    // The backup is the target's own inode (or a copy of it): it must be what preflight saw.
    let kept = (prior, if degraded { None } else { identity });
    if !is_inspected(target, backup_dir, &slot.names.backup, kept)? {
        let _ = sys::unlink_if_exists(backup_dir, &slot.names.backup);
        return Err(cleanup(Error::Drift {
            target: target.rel.clone(),
            found: format!(
                "{}, put there after preflight",
                describe_at(dir, &target.name)
            ),
        }));
    }
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
        match second_original(target, sidecar, slot)? {
            None => {
                remove_leftovers(target, sidecar, slot)?;
                return Ok(Restored::AlreadyPrior);
            }
            // A package reinstall put an equal object there while the original is still kept:
            // restoring it (forced) is the only change that keeps the original inode.
            Some(kept) if !force => {
                return Err(Error::Drift {
                    target: target.rel.clone(),
                    found: format!(
                        "{} equal to the prior one, while the original is still kept as `{}`",
                        describe_at(dir, &target.name),
                        kept.to_string_lossy()
                    ),
                });
            }
            Some(_) => {}
        }
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
    if !placed
        && let Some(found) = sys::lstat_at(dir, &target.name).map_err(target.io(Step::Inspect))?
        && !matches!(found.file_type, FileType::RegularFile | FileType::Symlink)
    {
        // Forced or not, the engine removes only a single drifted file or link: a directory
        // (or a device, a socket) would end up under the backup name and break every later
        // rollback.
        return Err(Error::DriftNotReplaceable {
            target: target.rel.clone(),
            found: describe_at(dir, &target.name),
        });
    }

    if sidecar.prior == ObjectState::None {
        sys::unlink_at(dir, &target.name).map_err(target.restore_err(Step::Unlink))?;
        crash_point!(RollbackAfterRestore, &target.rel);
        remove_leftovers(target, sidecar, slot)?;
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

    if defect!(RollbackUnlinkBeforeRename) {
        sys::unlink_at(dir, &target.name).map_err(target.restore_err(Step::Unlink))?;
        crash_point!(RollbackAfterRestore, &target.rel);
        sys::rename_noreplace(from_dir, from, dir, &target.name)
            .map_err(target.restore_err(Step::Rename))?;
        crash_point!(RollbackAfterUnlink, &target.rel);
        remove_leftovers(target, sidecar, slot)?;
        return Ok(Restored::Done {
            degraded: false,
            forced: !placed,
        });
    }
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
            remove_own_object(target, sidecar, &target.dir, &names.temp)?;
            // A copy left by an interrupted rollback is ours: a prefix of the store's copy.
            remove_own(target, &target.dir, &names.backup_tmp, |d| {
                is_interrupted_copy(from_dir, from, d, &names.backup_tmp)
            })?;
            copy_object(from_dir, from, dir, &names.backup_tmp, &names.temp)
                .map_err(target.restore_err(Step::CopyBackup))?;
            sys::rename_exchange(dir, &names.temp, dir, &target.name)
                .map_err(target.restore_err(Step::Exchange))?;
            crash_point!(RollbackAfterRestore, &target.rel);
            // The restored target is durable before the store's copy, the only other one, goes;
            // the store copy goes before the displaced link, which marks the restore as the
            // engine's until the end (see `second_original`).
            sys::fsync(dir).map_err(target.restore_err(Step::Sync))?;
            sys::unlink_at(from_dir, from).map_err(target.restore_err(Step::Unlink))?;
            // Across filesystems nothing orders the two unlinks on disk but a sync: the store
            // copy's removal is durable before the displaced link that marks the restore goes.
            sys::fsync(from_dir).map_err(target.restore_err(Step::Sync))?;
            sys::unlink_at(dir, &names.temp).map_err(target.restore_err(Step::Unlink))?;
            crash_point!(RollbackAfterUnlink, &target.rel);
            true
        }
        Err(e) => return Err(target.restore_err(Step::Exchange)(e)),
    };
    remove_leftovers(target, sidecar, slot)?;
    Ok(Restored::Done {
        degraded,
        forced: !placed,
    })
}

/// When the target already equals the prior state: the name of a second copy of the prior
/// object, kept by the engine, that is not the target itself and not explained by a restore in
/// progress. Its existence means someone else put the equal object at the target.
///
/// A store on another filesystem holds a copy by construction, never the original inode. A
/// target equal to that copy in everything the copy kept (bytes, mode, owner, extended
/// attributes) is the original itself, left in place by a power cut before the target's
/// directory was synced, or an equal reinstall; either way the copy holds nothing the target
/// lacks, and calling it drift would make `--force` replace the original inode with the copy.
pub(crate) fn second_original<'n>(
    target: &Target,
    sidecar: &Sidecar,
    slot: &'n BackupSlot,
) -> Result<Option<&'n OsStr>, Error> {
    if sidecar.prior == ObjectState::None {
        return Ok(None);
    }
    let dir = target.dir.fd();
    let names = &slot.names;
    let inspect = |e| target.io(Step::Inspect)(e);
    // A restore displaces our link to the backup name (same filesystem) or to the temporary
    // name (from a store on another filesystem); until the end it marks the restore as ours.
    if sidecar.placed.is_at(dir, &names.temp).map_err(inspect)?
        || sidecar
            .placed
            .is_at(slot.dir.fd(), &names.backup)
            .map_err(inspect)?
    {
        return Ok(None);
    }
    let at_target = sys::lstat_at(dir, &target.name).map_err(inspect)?;
    for (copy_dir, name) in [
        (slot.dir.fd(), names.backup.as_os_str()),
        (dir, names.temp.as_os_str()),
    ] {
        if !sidecar.prior.is_at(copy_dir, name).map_err(inspect)? {
            continue;
        }
        let copy = sys::lstat_at(copy_dir, name).map_err(inspect)?;
        // The same inode under both names is the hard-link fallback of a swap, not a copy.
        let same_inode =
            matches!((&at_target, &copy), (Some(a), Some(b)) if (a.dev, a.ino) == (b.dev, b.ino));
        if same_inode {
            continue;
        }
        let store_copy = copy.as_ref().is_some_and(|c| c.dev != target.dir.dev());
        if store_copy && same_xattrs(target, copy_dir, name).map_err(inspect)? {
            continue;
        }
        return Ok(Some(name));
    }
    Ok(None)
}

/// Whether the target and `copy_dir/name` carry the same extended attributes (a symlink has
/// none the engine copies).
fn same_xattrs(target: &Target, copy_dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<bool> {
    let of = |dir, name| match sys::open_read(dir, name) {
        Ok(file) => sys::xattrs(file.as_fd()).map(Some),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => Ok(None),
        Err(e) => Err(e),
    };
    Ok(of(target.dir.fd(), &target.name)? == of(copy_dir, name)?)
}

/// Once the target is its prior state, every name of the generation but the sidecar is debris
/// of an interrupted swap or restore (a temporary link, a displaced link, a partial copy). Each
/// is removed only when it provably is the engine's; anything else under those names is a file
/// of the tree, left alone and named in the error.
pub(crate) fn remove_leftovers(
    target: &Target,
    sidecar: &Sidecar,
    slot: &BackupSlot,
) -> Result<(), Error> {
    let names = &slot.names;
    remove_own_object(target, sidecar, &target.dir, &names.temp)?;
    remove_own_object(target, sidecar, &slot.dir, &names.backup)?;
    // Partial copies exist only where backups are copied: a store on another filesystem.
    let copies = slot.dir.dev() != target.dir.dev();
    for dir in [&target.dir, &slot.dir] {
        remove_own(target, dir, &names.backup_tmp, |d| {
            Ok(copies && is_copy_of_prior(target, sidecar, d, &names.backup_tmp)?)
        })?;
    }
    remove_own(target, &slot.dir, &names.sidecar_tmp, |d| {
        Ok(Sidecar::is_own_temp(d, names, &target.rel))
    })
}

/// Whether `dir/name` is a copy of the prior object that the engine made: finished, or
/// interrupted, its bytes a prefix of the prior object's where that is whole again (the target,
/// restored). An interrupted copy of an object no longer whole anywhere proves nothing.
fn is_copy_of_prior(
    target: &Target,
    sidecar: &Sidecar,
    dir: BorrowedFd<'_>,
    name: &OsStr,
) -> io::Result<bool> {
    Ok(sidecar.prior.is_at(dir, name)?
        || (sidecar.prior.is_at(target.dir.fd(), &target.name)?
            && is_interrupted_copy(target.dir.fd(), &target.name, dir, name)?))
}

/// Removes `dir/name` when it holds what the swap placed (a displaced link) or a copy of the
/// prior object; anything else there is not the engine's.
fn remove_own_object(
    target: &Target,
    sidecar: &Sidecar,
    dir: &Dir,
    name: &OsStr,
) -> Result<(), Error> {
    remove_own(target, dir, name, |d| {
        Ok(sidecar.placed.is_at(d, name)? || sidecar.prior.is_at(d, name)?)
    })
}

/// Removes `dir/name` if it exists and `ours` says the engine made it; fails naming it otherwise.
fn remove_own(
    target: &Target,
    dir: &Dir,
    name: &OsStr,
    ours: impl FnOnce(BorrowedFd<'_>) -> io::Result<bool>,
) -> Result<(), Error> {
    let fd = dir.fd();
    if sys::lstat_at(fd, name)
        .map_err(target.io(Step::Inspect))?
        .is_none()
    {
        return Ok(());
    }
    if !ours(fd).map_err(target.io(Step::Inspect))? {
        return Err(foreign(target, dir, name));
    }
    sys::unlink_if_exists(fd, name).map_err(target.restore_err(Step::Unlink))?;
    Ok(())
}

fn foreign(target: &Target, dir: &Dir, name: &OsStr) -> Error {
    let (path, in_store) = located(target, dir, name);
    Error::ForeignFile { path, in_store }
}

/// Where `dir/name` is, for a message: relative to the root in the target's directory; in a
/// backup store directory, the absolute path, and `true` (relative to the store, it would read
/// as a path of the root).
fn located(target: &Target, dir: &Dir, name: &OsStr) -> (String, bool) {
    if dir.key() == target.dir.key() {
        return (display(&dir.real_rel().join(name)), false);
    }
    let path = sys::fd_path(dir.fd()).unwrap_or_else(|_| dir.real_rel().to_owned());
    (path.join(name).to_string_lossy().into_owned(), true)
}

/// Preflight of a link: every name the generation will create must be free, but for a sidecar
/// temporary this engine wrote (which writing the sidecar replaces). A name that is taken holds
/// a file the engine did not make: refuse, naming it, rather than remove or overwrite it. The
/// directories' listings answer for the names they do not hold; a name they hold is looked at.
pub(crate) fn check_names_free(
    trees: &mut Trees,
    target: &Target,
    slot_dir: Option<&Dir>,
    names: &Names,
) -> Result<(), Error> {
    let mut wanted = vec![
        (&*target.dir, &names.temp, EngineFile::Temp),
        (&*target.dir, &names.backup_tmp, EngineFile::BackupTemp),
    ];
    if let Some(slot) = slot_dir {
        wanted.push((slot, &names.backup, EngineFile::Backup));
        if slot.key() != target.dir.key() {
            wanted.push((slot, &names.backup_tmp, EngineFile::BackupTemp));
        }
        wanted.push((slot, &names.sidecar_tmp, EngineFile::SidecarTemp));
    }
    for (dir, name, file) in wanted {
        if !trees.lists(dir, target, names.generation, file)? {
            continue;
        }
        let taken = sys::lstat_at(dir.fd(), name)
            .map_err(target.io(Step::Inspect))?
            .is_some();
        let own_sidecar =
            file == EngineFile::SidecarTemp && Sidecar::is_own_temp(dir.fd(), names, &target.rel);
        if taken && !own_sidecar {
            return Err(foreign(target, dir, name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    use crate::sys::tests::{Call, record_calls, set_exchange_unsupported};
    use crate::{
        ApplyMode, LinkRequest, MemorySink, Plan, Policy, RollbackOptions, SafePath, Switchyard,
        store_dir_for_root,
    };

    /// Where `RENAME_EXCHANGE` fails with `EINVAL`, the swap hard-links the backup first and
    /// renames over the target; the rollback renames the backup back. Same inodes throughout.
    /// Proves: REQ-R2
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

    /// Whether `calls` hold `first`, then `sync`, then `last`, in that order (other calls in
    /// between): what `first` made is durable before `last` removes what it replaces.
    fn synced_between(calls: &[Call], first: &Call, sync: &Call, last: &Call) -> bool {
        let Some(start) = calls.iter().position(|c| c == first) else {
            panic!("{first:?} never happened: {calls:#?}");
        };
        let Some(end) = calls.iter().rposition(|c| c == last) else {
            panic!("{last:?} never happened: {calls:#?}");
        };
        calls[start..end].contains(sync)
    }

    /// With the store on another filesystem the prior object is copied, not moved. Apply must
    /// make the store's entry for the copy durable before it unlinks the last copy on the
    /// target's filesystem; rollback must make the target's directory durable before it
    /// deletes the store's copy. Otherwise a power cut between the two loses the original.
    #[test]
    fn across_filesystems_the_new_copy_is_durable_before_the_old_one_goes() {
        let dir = Path::new("/tmp/switchyard-unit-tests/cross-fs-order");
        let store = dir.join("store");
        let _ = rustix::mount::unmount(&store, rustix::mount::UnmountFlags::DETACH);
        let _ = fs::remove_dir_all(dir);
        let root = dir.join("root");
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        fs::create_dir_all(root.join("opt")).unwrap();
        fs::create_dir_all(&store).unwrap();
        fs::write(root.join("usr/bin/ls"), "GNU ls\n").unwrap();
        fs::write(root.join("opt/ls"), "uutils ls\n").unwrap();
        rustix::mount::mount(
            "tmpfs",
            &store,
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            c"size=1m",
        )
        .unwrap_or_else(|e| {
            panic!(
                "cannot mount a tmpfs at {} ({e}): this test needs root (or CAP_SYS_ADMIN) \
                     to put the backup store on a second filesystem",
                store.display()
            )
        });

        let engine = Switchyard::new(Policy {
            backup_store: Some(store.clone()),
            ..Policy::permissive()
        });
        let plan = Plan::links([LinkRequest {
            source: SafePath::new(&root, "opt/ls").unwrap(),
            target: SafePath::new(&root, "usr/bin/ls").unwrap(),
        }])
        .unwrap();
        record_calls(true);
        let applied = engine.apply(&plan, ApplyMode::Commit, &mut MemorySink::default());
        let apply_calls = record_calls(false);
        record_calls(true);
        let rolled = engine.rollback(
            &plan,
            RollbackOptions::default(),
            &mut MemorySink::default(),
        );
        let rollback_calls = record_calls(false);
        // Where RENAME_EXCHANGE is unsupported, the rename over the target drops the original's
        // last name on the target's filesystem instead.
        set_exchange_unsupported(true);
        record_calls(true);
        let fallback = engine.apply(&plan, ApplyMode::Commit, &mut MemorySink::default());
        let fallback_calls = record_calls(false);
        set_exchange_unsupported(false);
        let _ = engine.rollback(
            &plan,
            RollbackOptions::default(),
            &mut MemorySink::default(),
        );
        let _ = rustix::mount::unmount(&store, rustix::mount::UnmountFlags::DETACH);

        assert!(applied.unwrap().degraded());
        rolled.unwrap();
        let bin = fs::canonicalize(root.join("usr/bin")).unwrap();
        let store_bin = store_dir_for_root(&store, &root).unwrap().join("usr/bin");
        assert!(
            synced_between(
                &apply_calls,
                &Call::Rename(store_bin.join(".ls.switchyard.1.bak")),
                &Call::Fsync(store_bin.clone()),
                &Call::Unlink(bin.join(".ls.switchyard.1.tmp")),
            ),
            "apply unlinked the prior object before the store's copy was durable: {apply_calls:#?}"
        );
        assert!(
            synced_between(
                &rollback_calls,
                &Call::Rename(bin.join(".ls.switchyard.1.tmp")),
                &Call::Fsync(bin.clone()),
                &Call::Unlink(store_bin.join(".ls.switchyard.1.bak")),
            ),
            "rollback deleted the store's copy before the restored target was durable: {rollback_calls:#?}"
        );
        assert!(fallback.unwrap().degraded());
        assert!(
            synced_between(
                &fallback_calls,
                &Call::Rename(store_bin.join(".ls.switchyard.2.bak")),
                &Call::Fsync(store_bin.clone()),
                &Call::Rename(bin.join("ls")),
            ),
            "the fallback replaced the original before the store's copy was durable: {fallback_calls:#?}"
        );
        assert_eq!(fs::read(root.join("usr/bin/ls")).unwrap(), b"GNU ls\n");
    }
}
