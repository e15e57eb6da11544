//! What a trial started and left running — a health check that hung, or one that put a process
//! in the background inside the mount — is killed before the trial releases its filesystems:
//! otherwise it would outlive the trial and keep the mount busy and the loop device attached.
//!
//! The trial child leads its own process group and is the reaper of its descendants' orphans,
//! so a stray is found either way: in the group, or below the child (even after `setsid`).

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitOptions};

use crate::procfs::{self, ProcStat};

/// Rounds of killing (a stray may have forked before it died).
const ROUNDS: usize = 16;
/// How long a killed process that is not our child is given to be gone.
const DEATH_WAIT: Duration = Duration::from_secs(5);

/// Makes this process the parent of every orphan among its descendants.
pub fn adopt_orphans() -> io::Result<()> {
    Ok(rustix::process::set_child_subreaper(Some(
        rustix::process::getpid(),
    ))?)
}

/// Kills every process this one started, directly or not, and every other member of the
/// process group it leads, and waits until they are gone. Returns how many were killed.
pub fn kill_strays() -> usize {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let leads_group = rustix::process::getpgrp().as_raw_nonzero().get() == me;
    kill_in_rounds(|p, parents| {
        (leads_group && p.pgid == me) || child_of(p.pid, me, parents).is_some()
    })
}

/// Kills every process other than this one that `is_stray` picks (given the parent of every
/// process), in rounds, since a stray may fork before it dies; waits until each is gone, and
/// reaps those of them that end up as this process's children. Returns how many were killed.
pub(crate) fn kill_in_rounds(is_stray: impl Fn(&ProcStat, &HashMap<i32, i32>) -> bool) -> usize {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let mut killed = 0;
    for _ in 0..ROUNDS {
        let processes = procfs::processes();
        let parents: HashMap<i32, i32> = processes.iter().map(|p| (p.pid, p.ppid)).collect();
        let strays: Vec<ProcStat> = processes
            .into_iter()
            .filter(|p| p.pid != me && p.state != 'Z')
            .filter(|p| is_stray(p, &parents))
            .collect();
        if strays.is_empty() {
            break;
        }
        for stray in &strays {
            if let Some(pid) = Pid::from_raw(stray.pid)
                && rustix::process::kill_process(pid, Signal::KILL).is_ok()
            {
                killed += 1;
            }
        }
        for stray in &strays {
            wait_gone(stray, me);
        }
    }
    reap_zombies(me, &is_stray);
    killed
}

/// The child of `ancestor` that `pid` is, or descends from; `None` when `pid` does not descend
/// from `ancestor`.
pub(crate) fn child_of(mut pid: i32, ancestor: i32, parents: &HashMap<i32, i32>) -> Option<i32> {
    // Bounded: a pid reused while the list was read could make a cycle.
    for _ in 0..parents.len() {
        match parents.get(&pid) {
            Some(&parent) if parent == ancestor => return Some(pid),
            Some(&parent) if parent > 1 => pid = parent,
            _ => return None,
        }
    }
    None
}

/// A killed child of ours is reaped; any other stray is watched until it is gone or a zombie
/// (which holds no files or mounts any more).
fn wait_gone(stray: &ProcStat, me: i32) {
    let Some(pid) = Pid::from_raw(stray.pid) else {
        return;
    };
    if stray.ppid == me && rustix::process::waitpid(Some(pid), WaitOptions::empty()).is_ok() {
        return;
    }
    let deadline = Instant::now() + DEATH_WAIT;
    while Instant::now() < deadline {
        match procfs::stat(stray.pid) {
            Ok(now) if now.start_time == stray.start_time && now.state != 'Z' => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => return,
        }
    }
}

/// Strays that died after being handed to us are ours to reap; no other child of ours is, since
/// whoever started it waits for it.
fn reap_zombies(me: i32, is_stray: impl Fn(&ProcStat, &HashMap<i32, i32>) -> bool) {
    let processes = procfs::processes();
    let parents: HashMap<i32, i32> = processes.iter().map(|p| (p.pid, p.ppid)).collect();
    for zombie in processes
        .iter()
        .filter(|p| p.ppid == me && p.state == 'Z' && is_stray(p, &parents))
    {
        if let Some(pid) = Pid::from_raw(zombie.pid) {
            let _ = rustix::process::waitpid(Some(pid), WaitOptions::NOHANG);
        }
    }
}
