//! Faults a scenario injects: a full filesystem, a read-only remount, an immutable file, and
//! the engine's lock held by another process. Each is undone by `clear` or at the end of the
//! trial.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rustix::fs::IFlags;
use rustix::io::Errno;

use super::unsupported::{self, Feature};
use crate::fixture::Filesystem;
use crate::scenario::Fault;

/// The faults in force in one trial variant.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    filler: Option<PathBuf>,
    read_only: bool,
    immutable: Vec<PathBuf>,
    lock_holder: Option<Child>,
}

impl Faults {
    pub(crate) fn inject(
        &mut self,
        fault: &Fault,
        fs: &Filesystem,
        root: &Path,
        lock: &Path,
    ) -> io::Result<()> {
        match fault {
            Fault::Fill => {
                let filler = fs.mount_point().join(".fsmatrix-fill");
                fill(&filler, fs)?;
                self.filler = Some(filler);
            }
            Fault::ReadOnly => {
                fs.remount(true).map_err(io::Error::other)?;
                self.read_only = true;
            }
            Fault::Immutable(rel) => {
                let path = root.join(rel);
                set_immutable(&path, true)?;
                self.immutable.push(path);
            }
            Fault::HoldLock => {
                if self.lock_holder.is_none() {
                    self.lock_holder = Some(hold_lock(lock)?);
                }
            }
            Fault::NoExchange => unsupported::install(Feature::Exchange)?,
            Fault::NoTmpfile => unsupported::install(Feature::Tmpfile)?,
        }
        Ok(())
    }

    pub(crate) fn clear(&mut self, fault: &Fault, fs: &Filesystem, root: &Path) -> io::Result<()> {
        match fault {
            Fault::Fill => {
                if let Some(filler) = self.filler.take() {
                    remove_filler(&filler, fs)?;
                }
            }
            Fault::ReadOnly => {
                if self.read_only {
                    fs.remount(false).map_err(io::Error::other)?;
                    self.read_only = false;
                }
            }
            Fault::Immutable(rel) => {
                let path = root.join(rel);
                set_immutable(&path, false)?;
                self.immutable.retain(|p| *p != path);
            }
            Fault::HoldLock => {
                if let Some(mut holder) = self.lock_holder.take() {
                    let _ = holder.kill();
                    holder.wait()?;
                }
            }
            Fault::NoExchange | Fault::NoTmpfile => {
                return Err(io::Error::other(format!(
                    "{fault} cannot be cleared: it lasts until the trial ends"
                )));
            }
        }
        Ok(())
    }

    /// Undoes every fault still in force, so the fixture can be released.
    pub(crate) fn clear_all(&mut self, fs: &Filesystem) -> io::Result<()> {
        if let Some(mut holder) = self.lock_holder.take() {
            let _ = holder.kill();
            holder.wait()?;
        }
        if self.read_only {
            fs.remount(false).map_err(io::Error::other)?;
            self.read_only = false;
        }
        for path in std::mem::take(&mut self.immutable) {
            set_immutable(&path, false)?;
        }
        if let Some(filler) = self.filler.take() {
            remove_filler(&filler, fs)?;
        }
        Ok(())
    }
}

/// Fills the filesystem: preallocate in shrinking chunks until not even 4 KiB fit, then create
/// small files until no inode or metadata block is left (btrfs keeps small files inline in
/// metadata, so data space alone is not enough).
///
/// The filesystem is synced at the end (its own, not the whole machine's: at `--jobs` > 1 a
/// global `sync` waits on every other trial's writes too).
fn fill(filler: &Path, filesystem: &Filesystem) -> io::Result<()> {
    fs::create_dir_all(filler)?;
    let big = File::create(filler.join("data"))?;
    let mut offset = 0u64;
    let mut chunk = 64u64 << 20;
    while chunk >= 4096 {
        match rustix::fs::fallocate(&big, rustix::fs::FallocateFlags::empty(), offset, chunk) {
            Ok(()) => offset += chunk,
            Err(Errno::NOSPC) => chunk /= 2,
            Err(e) => return Err(e.into()),
        }
    }
    big.sync_all()?;
    for n in 0u64.. {
        let made = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(filler.join(format!("f{n}")))
            .and_then(|mut f| f.write_all(&[0u8; 512]));
        match made {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(code) if code == Errno::NOSPC.raw_os_error()) =>
            {
                break;
            }
            Err(e) => return Err(e),
        }
    }
    filesystem.sync().map_err(io::Error::other)
}

fn remove_filler(filler: &Path, filesystem: &Filesystem) -> io::Result<()> {
    fs::remove_dir_all(filler)?;
    filesystem.sync().map_err(io::Error::other)
}

/// `chattr +i` / `chattr -i` through `FS_IOC_SETFLAGS`.
fn set_immutable(path: &Path, on: bool) -> io::Result<()> {
    let file = File::open(path)?;
    let mut flags = rustix::fs::ioctl_getflags(&file)?;
    flags.set(IFlags::IMMUTABLE, on);
    rustix::fs::ioctl_setflags(&file, flags)?;
    Ok(())
}

/// Starts `fsmatrix __hold-lock` on the engine's lock file and waits until it holds the lock.
fn hold_lock(lock: &Path) -> io::Result<Child> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("__hold-lock")
        .arg(lock)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        BufReader::new(out).read_line(&mut line)?;
    }
    if line.trim() != "locked" {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io::Error::other(format!(
            "the lock holder did not take {}: it said {line:?}",
            lock.display()
        )));
    }
    Ok(child)
}

/// The body of `fsmatrix __hold-lock FILE`: take the lock, say so, and keep it until killed.
pub fn hold_lock_forever(lock: &Path) -> io::Result<()> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock)?;
    file.lock()?;
    println!("locked");
    io::stdout().flush()?;
    loop {
        std::thread::park();
    }
}
