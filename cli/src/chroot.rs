//! Health checks inside the root: each program runs in a child that enters the root (chroot) in
//! a private mount namespace with `/proc`, `/dev` and `/sys` mounted, so a root of another
//! Debian release is checked with its own loader and libraries, and an absolute link in the
//! root leads to the root's own file. The mounts belong to the child's namespace alone and go
//! away with it; nothing is mounted in the caller's.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rustix::mount::{MountFlags, MountPropagationFlags};
use switchyard::{ProgramRun, ProgramRunner, SafePath, run_command};

/// Runs programs inside their root. See the module documentation.
#[derive(Clone, Debug)]
pub struct ChrootRunner {
    root: CString,
    /// What to mount where, inside the root; only for directories the root has.
    proc: Option<CString>,
    dev: Option<CString>,
    sys: Option<CString>,
}

impl ChrootRunner {
    pub fn new(root: &Path) -> Option<ChrootRunner> {
        let c = |path: PathBuf| CString::new(path.as_os_str().as_bytes()).ok();
        let inside = |dir: &str| {
            let path = root.join(dir);
            path.is_dir().then(|| c(path)).flatten()
        };
        Some(ChrootRunner {
            root: c(root.to_owned())?,
            proc: inside("proc"),
            dev: inside("dev"),
            sys: inside("sys"),
        })
    }

    /// A root a program can run in: it has a shell of its own (a system, not a bare tree of a
    /// few files).
    pub fn fits(root: &Path) -> bool {
        ["usr/bin/sh", "bin/sh"]
            .iter()
            .any(|sh| std::fs::symlink_metadata(root.join(sh)).is_ok())
    }

    /// In the child, between fork and exec: only system calls on prepared strings.
    fn enter(&self) -> std::io::Result<()> {
        // SAFETY: the child has a single thread and unshares only its mount namespace, which
        // no other thread observes.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)? };
        // Nothing mounted below may propagate back to the caller's namespace.
        rustix::mount::mount_change(
            c"/",
            MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
        )?;
        if let Some(proc) = &self.proc {
            rustix::mount::mount(
                c"proc",
                proc.as_c_str(),
                c"proc",
                MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                None,
            )?;
        }
        for (from, to) in [(c"/dev", &self.dev), (c"/sys", &self.sys)] {
            if let Some(to) = to {
                rustix::mount::mount_bind_recursive(from, to.as_c_str())?;
            }
        }
        rustix::process::chroot(self.root.as_c_str())?;
        rustix::process::chdir(c"/")?;
        Ok(())
    }
}

impl ProgramRunner for ChrootRunner {
    fn run(&self, program: &SafePath, args: &[String], limit: Duration) -> ProgramRun {
        let mut command = Command::new(Path::new("/").join(program.rel()));
        command.args(args).env_clear().env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
        let runner = self.clone();
        // SAFETY: `enter` makes system calls on strings prepared before the fork, allocates
        // nothing and takes no lock, as code between fork and exec must.
        unsafe {
            command.pre_exec(move || runner.enter());
        }
        run_command(command, limit)
    }
}
