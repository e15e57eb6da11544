//! Faults that make a system call fail as it does where a filesystem lacks the feature, so the
//! engine takes its fallback:
//!
//! - `no_exchange`: `renameat2` with `RENAME_EXCHANGE` fails with `EINVAL`; the engine hard-links
//!   the prior object to its backup name and renames the new link over the target;
//! - `no_tmpfile`: `openat` with `O_TMPFILE` fails with `EOPNOTSUPP`; the engine writes each
//!   sidecar under its temporary name and renames it into place.
//!
//! A seccomp filter in the trial process, not a test hook in the engine: the engine under test is
//! the one that ships, and it meets the same errno a real filesystem gives. A filter cannot be
//! removed, so the fault lasts until the trial process ends; the step children it starts inherit
//! it.

use std::io;

/// `offsetof(struct seccomp_data, nr)` and `arch`.
const NR: u32 = 0;
const ARCH: u32 = 4;

/// `offsetof(struct seccomp_data, args[n])`, low 32 bits on a little-endian machine.
const fn arg_low(n: u32) -> u32 {
    16 + 8 * n
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// A feature a filesystem may lack, as the calls that use it see it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Feature {
    /// `renameat2(.., flags)` with `RENAME_EXCHANGE` fails with `EINVAL`.
    Exchange,
    /// `openat(.., flags, ..)` with `O_TMPFILE` fails with `EOPNOTSUPP`.
    Tmpfile,
}

impl Feature {
    /// The call, the argument that holds its flags, the flag, and the errno.
    fn refusal(self) -> (u32, u32, u32, i32) {
        match self {
            Feature::Exchange => (
                libc::SYS_renameat2 as u32,
                4,
                libc::RENAME_EXCHANGE,
                libc::EINVAL,
            ),
            // `O_TMPFILE` includes `O_DIRECTORY`; the bit of its own tells it apart.
            Feature::Tmpfile => (
                libc::SYS_openat as u32,
                2,
                (libc::O_TMPFILE & !libc::O_DIRECTORY) as u32,
                libc::EOPNOTSUPP,
            ),
        }
    }
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Installs the filter that takes `feature` away, on every thread of this process.
pub(crate) fn install(feature: Feature) -> io::Result<()> {
    let (call, flags_arg, flag, errno) = feature.refusal();
    const LD: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
    const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let mut program = [
        stmt(LD, ARCH),
        // Another architecture's calls pass untouched.
        jump(JEQ, AUDIT_ARCH, 0, 5),
        stmt(LD, NR),
        jump(JEQ, call, 0, 3),
        stmt(LD, arg_low(flags_arg)),
        jump(JSET, flag, 0, 1),
        stmt(RET, libc::SECCOMP_RET_ERRNO | errno as u32),
        stmt(RET, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    rustix::thread::set_no_new_privs(true)?;
    // SAFETY: `prog` points at `program`, which outlives the call; the kernel copies the filter.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_TSYNC,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
