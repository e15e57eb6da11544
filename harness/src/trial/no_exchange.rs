//! The `no_exchange` fault: `renameat2` with `RENAME_EXCHANGE` fails with `EINVAL`, as on a
//! filesystem that does not support the exchange, so the engine takes its hard-link fallback.
//!
//! A seccomp filter in the trial process, not a test hook in the engine: the engine under test is
//! the one that ships, and it meets the same errno a real filesystem gives. A filter cannot be
//! removed, so the fault lasts until the trial process ends.

use std::io;

/// `offsetof(struct seccomp_data, nr)`, `arch` and `args[4]` (the flags of `renameat2`; their
/// low 32 bits, on a little-endian machine).
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG4_LOW: u32 = 16 + 4 * 8;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

const RENAME_EXCHANGE: u32 = 1 << 1;

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

/// Installs the filter on every thread of this process.
pub(crate) fn install() -> io::Result<()> {
    const LD: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const JSET: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
    const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let mut program = [
        stmt(LD, ARCH),
        // Another architecture's calls pass untouched.
        jump(JEQ, AUDIT_ARCH, 0, 5),
        stmt(LD, NR),
        jump(JEQ, libc::SYS_renameat2 as u32, 0, 3),
        stmt(LD, ARG4_LOW),
        jump(JSET, RENAME_EXCHANGE, 0, 1),
        stmt(RET, libc::SECCOMP_RET_ERRNO | libc::EINVAL as u32),
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
