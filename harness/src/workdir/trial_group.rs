//! The process group a trial child leads, recorded in its trial directory so that `fsmatrix
//! clean` can kill what a SIGKILLed run's trials left running, and nothing else.
//!
//! A pid is only a number, and numbers wrap: by the time `clean` runs, the recorded group may
//! be someone else's. So the record also holds the leader's start time and a token that the
//! trial child put in its environment (inherited by everything it starts). A process is killed
//! only when it is in the group and either carries the token, or the group's leader is still
//! the very process that was recorded.

use std::fs;
use std::io;
use std::path::Path;

use rustix::process::{Pid, Signal};

use crate::procfs;

/// Environment variable holding a trial's token.
pub const TRIAL_TOKEN_ENV: &str = "FSMATRIX_TRIAL";

/// File in a trial directory that holds the record: `PGID START-TIME TOKEN`.
const FILE: &str = "process-group";

/// A trial child's process group, as recorded when it started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrialGroup {
    pub pgid: i32,
    /// The leader's start time (`/proc/PID/stat`, field 22).
    pub leader_start: u64,
    pub token: String,
}

impl TrialGroup {
    /// The group led by `leader`, a child just started with `token` in its environment.
    pub fn of_leader(leader: u32, token: &str) -> io::Result<TrialGroup> {
        let pid = i32::try_from(leader).map_err(io::Error::other)?;
        Ok(TrialGroup {
            pgid: pid,
            leader_start: procfs::stat(pid)?.start_time,
            token: token.to_owned(),
        })
    }

    pub fn write(&self, trial_dir: &Path) -> io::Result<()> {
        fs::write(
            trial_dir.join(FILE),
            format!("{} {} {}\n", self.pgid, self.leader_start, self.token),
        )
    }

    /// The record in `trial_dir`, if there is a readable one.
    pub fn read(trial_dir: &Path) -> Option<TrialGroup> {
        let text = fs::read_to_string(trial_dir.join(FILE)).ok()?;
        // The token (a scenario name may hold spaces) is the rest of the line.
        let mut fields = text.strip_suffix('\n')?.splitn(3, ' ');
        Some(TrialGroup {
            pgid: fields.next()?.parse().ok()?,
            leader_start: fields.next()?.parse().ok()?,
            token: fields.next().filter(|t| !t.is_empty())?.to_owned(),
        })
    }

    /// Kills the processes that provably belong to this trial; returns how many: the members
    /// of its group while the leader is still the one recorded, and every process carrying the
    /// trial's token, in whatever group it is (a health check runs in a group of its own, and
    /// inherits the token).
    pub fn kill(&self) -> usize {
        let leader_is_ours =
            procfs::stat(self.pgid).is_ok_and(|leader| leader.start_time == self.leader_start);
        procfs::processes()
            .into_iter()
            .filter(|p| {
                (leader_is_ours && p.pgid == self.pgid)
                    || procfs::environ_has(p.pid, TRIAL_TOKEN_ENV, &self.token)
            })
            .filter_map(|p| Pid::from_raw(p.pid))
            .filter(|&pid| rustix::process::kill_process(pid, Signal::KILL).is_ok())
            .count()
    }
}

/// Kills every process that carries `token` (a trial's, in [`TRIAL_TOKEN_ENV`]) in its
/// environment, in whatever process group; returns how many.
pub fn kill_token_carriers(token: &str) -> usize {
    procfs::processes()
        .into_iter()
        .filter(|p| procfs::environ_has(p.pid, TRIAL_TOKEN_ENV, token))
        .filter_map(|p| Pid::from_raw(p.pid))
        .filter(|&pid| rustix::process::kill_process(pid, Signal::KILL).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_with_a_token_that_holds_spaces() {
        let dir = std::env::temp_dir().join(format!("trial-group-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let group = TrialGroup {
            pgid: 4242,
            leader_start: 987_654,
            token: "run-1-2/a scenario@ext4".to_owned(),
        };
        group.write(&dir).unwrap();
        assert_eq!(TrialGroup::read(&dir), Some(group));
        // A bare number, as older runs wrote, proves nothing about the group: not read.
        fs::write(dir.join(FILE), "4242").unwrap();
        assert_eq!(TrialGroup::read(&dir), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
