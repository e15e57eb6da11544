//! The trial children of a run, and the orphans they leave.
//!
//! A trial child is the reaper of what its trial starts, and kills all of it before it reports
//! ([`crate::trial::adopt_orphans`]). A trial child that is killed (on a timeout, a cancel) or
//! dies takes that role with it: a process its health check started out of the trial's process
//! group and without its token (`setsid`, `env -i`) would go to init and live on, holding the
//! trial's mount and loop device. So the run process is a reaper too, and whatever it adopts is
//! an orphan of a trial child that is over: it is killed, with everything below it. The run
//! process starts no other process while trials run, and its trial children are started
//! through [`TrialChildren::spawn`], so none of them is ever taken for an orphan.

use std::io;
use std::process::{Child, Command};
use std::sync::{Mutex, MutexGuard};

use crate::trial::{self, child_of, kill_in_rounds};

/// The trial children of this process that have not been waited for yet.
#[derive(Debug)]
pub struct TrialChildren {
    live: Mutex<Vec<i32>>,
}

impl TrialChildren {
    /// Makes this process the reaper of its descendants' orphans, so that none goes to init.
    pub fn adopting_orphans() -> io::Result<TrialChildren> {
        trial::adopt_orphans()?;
        Ok(TrialChildren {
            live: Mutex::new(Vec::new()),
        })
    }

    /// Starts a trial child and counts it as live until the returned guard is dropped, which
    /// must be after the child has been waited for.
    pub(crate) fn spawn(&self, command: &mut Command) -> io::Result<LiveChild<'_>> {
        // Under the lock: an orphan hunt never sees the new child before it is counted.
        let mut live = self.lock();
        let child = command.spawn()?;
        let pid = child.id() as i32;
        live.push(pid);
        Ok(LiveChild {
            child,
            pid,
            children: self,
        })
    }

    /// Kills every process this one adopted that is not a live trial child, and everything
    /// below it, and waits until they are gone. Returns how many were killed.
    pub(crate) fn kill_orphans(&self) -> usize {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        // Held throughout: a child started meanwhile would look like an orphan.
        let live = self.lock();
        kill_in_rounds(|p, parents| {
            child_of(p.pid, me, parents).is_some_and(|child| !live.contains(&child))
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<i32>> {
        // The list stays consistent whatever a panicking holder was doing: it only pushes and
        // removes whole entries.
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A trial child, counted as live while this lives.
#[derive(Debug)]
pub(crate) struct LiveChild<'a> {
    pub(crate) child: Child,
    pid: i32,
    children: &'a TrialChildren,
}

impl Drop for LiveChild<'_> {
    fn drop(&mut self) {
        let mut live = self.children.lock();
        // One entry: a pid reused by a newer trial child is in the list once more.
        if let Some(at) = live.iter().position(|&pid| pid == self.pid) {
            live.swap_remove(at);
        }
    }
}
