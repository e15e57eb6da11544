//! What /proc says about processes: their parent, process group and start time, and whether
//! their environment carries a marker. Enough to find a trial's processes without guessing.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// One process as `/proc/PID/stat` describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    /// `Z`: a zombie, which holds no files or mounts any more.
    pub state: char,
    /// Clock ticks after boot: with the pid, names one process across pid reuse.
    pub start_time: u64,
}

/// The process `pid`, as /proc describes it now.
pub fn stat(pid: i32) -> io::Result<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(pid, &text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("/proc/{pid}/stat is not in the kernel's format"),
        )
    })
}

/// Every process that can be read now (one that ends while the list is made is left out).
pub fn processes() -> Vec<ProcStat> {
    pids().filter_map(|pid| stat(pid).ok()).collect()
}

fn pids() -> impl Iterator<Item = i32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
}

/// Whether a mount namespace other than this process's has a mount of the block `device`
/// (field 3 of mountinfo, `major:minor`). Each namespace is read once, through the first of its
/// processes found.
pub fn mounted_in_another_namespace(device: &Path) -> bool {
    let Ok(meta) = fs::metadata(device) else {
        return false;
    };
    let rdev = meta.rdev();
    let wanted = format!("{}:{}", rustix::fs::major(rdev), rustix::fs::minor(rdev));
    let ours = fs::read_link("/proc/self/ns/mnt").ok();
    let mut seen = HashSet::new();
    pids().any(|pid| {
        let Ok(ns) = fs::read_link(format!("/proc/{pid}/ns/mnt")) else {
            return false;
        };
        if ours.as_ref() == Some(&ns) || !seen.insert(ns) {
            return false;
        }
        fs::read_to_string(format!("/proc/{pid}/mountinfo")).is_ok_and(|text| {
            text.lines()
                .any(|line| line.split(' ').nth(2) == Some(wanted.as_str()))
        })
    })
}

/// Whether the environment of `pid` holds exactly `NAME=VALUE`.
pub fn environ_has(pid: i32, name: &str, value: &str) -> bool {
    let wanted = format!("{name}={value}").into_bytes();
    fs::read(format!("/proc/{pid}/environ"))
        .map(|env| env.split(|&b| b == 0).any(|entry| entry == wanted))
        .unwrap_or(false)
}

/// Fields 3, 4, 5 and 22 of `pid (comm) state ppid pgrp … starttime …`. The command name may
/// hold spaces and parentheses, so the fields are counted from its last `)`.
fn parse_stat(pid: i32, text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_after_a_command_name_with_spaces_and_parentheses() {
        let text = "4242 (a) b (c) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 \
                    1000 200 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        assert_eq!(
            parse_stat(4242, text),
            Some(ProcStat {
                pid: 4242,
                ppid: 17,
                pgid: 4242,
                state: 'S',
                start_time: 987_654,
            })
        );
    }

    #[test]
    fn this_process_is_listed_with_its_own_group() {
        let me = stat(std::process::id() as i32).unwrap();
        assert_eq!(me.pgid, rustix::process::getpgrp().as_raw_nonzero().get());
        assert!(processes().iter().any(|p| p.pid == me.pid));
    }
}
