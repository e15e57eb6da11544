//! Health checks inside the root: each program runs in a child that enters the root (chroot) in
//! a private mount namespace with `/proc`, `/dev` and `/sys` mounted, so a root of another
//! Debian release is checked with its own loader and libraries, and an absolute link in the
//! root leads to the root's own file. The mounts belong to the child's namespace alone and go
//! away with it; nothing is mounted in the caller's.
//!
//! What a check sees besides the root's files: a `proc` of its own (the host's processes, as
//! the child shares their PID namespace), a fresh read-only `sysfs`, and a `/dev` on a tmpfs of
//! its own with only `null`, `zero`, `full`, `random`, `urandom`, `tty` and the `fd`, `stdin`,
//! `stdout` and `stderr` links: no block device of the host, and no way to write its kernel
//! settings through /sys. It runs as root with the caller's capabilities and network.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rustix::fs::{CWD, FileType, Mode};
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
        if let Some(sys) = &self.sys {
            rustix::mount::mount(
                c"sysfs",
                sys.as_c_str(),
                c"sysfs",
                MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                None,
            )?;
        }
        if let Some(dev) = &self.dev {
            rustix::mount::mount(
                c"tmpfs",
                dev.as_c_str(),
                c"tmpfs",
                MountFlags::NOSUID | MountFlags::NOEXEC,
                c"mode=0755,size=64k",
            )?;
        }
        rustix::process::chroot(self.root.as_c_str())?;
        rustix::process::chdir(c"/")?;
        if self.dev.is_some() {
            populate_dev()?;
        }
        Ok(())
    }
}

/// The character devices of a minimal `/dev`: path, major, minor.
const DEVICES: [(&CStr, u32, u32); 6] = [
    (c"/dev/null", 1, 3),
    (c"/dev/zero", 1, 5),
    (c"/dev/full", 1, 7),
    (c"/dev/random", 1, 8),
    (c"/dev/urandom", 1, 9),
    (c"/dev/tty", 5, 0),
];

/// The links of a minimal `/dev` into the child's own `/proc`.
const DEV_LINKS: [(&CStr, &CStr); 4] = [
    (c"/dev/fd", c"/proc/self/fd"),
    (c"/dev/stdin", c"/proc/self/fd/0"),
    (c"/dev/stdout", c"/proc/self/fd/1"),
    (c"/dev/stderr", c"/proc/self/fd/2"),
];

/// Fills the fresh `/dev` tmpfs, inside the root: between fork and exec like `enter`.
fn populate_dev() -> std::io::Result<()> {
    let everyone = Mode::from_raw_mode(0o666);
    for (path, major, minor) in DEVICES {
        let dev = rustix::fs::makedev(major, minor);
        rustix::fs::mknodat(CWD, path, FileType::CharacterDevice, everyone, dev)?;
        // mknod's mode is cut by the umask; every user may use these devices.
        rustix::fs::chmod(path, everyone)?;
    }
    for (link, dest) in DEV_LINKS {
        rustix::fs::symlinkat(dest, CWD, link)?;
    }
    Ok(())
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
