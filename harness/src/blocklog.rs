//! The ordered log of what filesystems wrote to their block devices during one step, and the
//! crash states a power cut could leave from it.
//!
//! The model is fstests' dm-log-writes and CrashMonkey's: a disk may keep any subset of the
//! writes issued to it since its last completed flush, in any order, but nothing written to it
//! before that flush may be lost. A log may hold several disks (a filesystem and the backup
//! store on another one); a power cut is one instant for all of them, and a flush of one disk
//! makes nothing of another durable. So the states are
//!
//! - every prefix that ends at a flush (what the disks must at least hold at that moment),
//! - prefixes that end at single writes (a cut between two writes), a seeded sample of them when
//!   there are more than the bounds allow, and
//! - at the end of each epoch (just before a flush, or at the end of the log), seeded subsets of
//!   the writes that are not yet durable over everything that is (writes that reached the disk
//!   out of order).
//!
//! Pure: no I/O. The same log and seed always give the same states.

use std::fmt;

/// One entry of the log, in the order the device received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Write {
        disk: usize,
        offset: u64,
        data: Vec<u8>,
    },
    /// A flush barrier: everything written to `disk` before it is durable once it completes.
    Flush { disk: usize },
    /// A point the harness names in the log, e.g. where the engine returned.
    Mark(String),
}

/// The ordered log of one recorded window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Log {
    entries: Vec<Entry>,
}

impl Log {
    pub fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn writes(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e, Entry::Write { .. }))
            .count()
    }

    pub fn flushes(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e, Entry::Flush { .. }))
            .count()
    }

    /// The log's writes, in log order: (disk, offset, bytes).
    fn write_entries(&self) -> impl Iterator<Item = (usize, u64, &[u8])> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Write { disk, offset, data } => Some((*disk, *offset, data.as_slice())),
            _ => None,
        })
    }

    /// The writes of `state` to `disk`, in log order: what to lay over the image that disk's
    /// log started from.
    pub fn replay<'a>(
        &'a self,
        state: &'a CrashState,
        disk: usize,
    ) -> impl Iterator<Item = (u64, &'a [u8])> {
        self.write_entries()
            .enumerate()
            .filter(move |(i, (d, _, _))| *d == disk && state.writes.binary_search(i).is_ok())
            .map(|(_, (_, offset, data))| (offset, data))
    }
}

/// How a crash state was cut from the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Every write before the `n`th flush (`0`: none at all, the image the log started from).
    Flush(usize),
    /// The first `n` writes.
    Prefix(usize),
    /// Sample `sample` of the subsets of epoch `epoch`'s writes, over every write before it.
    Subset { epoch: usize, sample: usize },
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cut::Flush(n) => write!(f, "flush-{n}"),
            Cut::Prefix(n) => write!(f, "prefix-{n}"),
            Cut::Subset { epoch, sample } => write!(f, "epoch-{epoch}.{sample}"),
        }
    }
}

/// One state a power cut could leave: which writes of the log reached the disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashState {
    pub cut: Cut,
    /// Indices among the log's writes, ascending.
    pub writes: Vec<usize>,
}

/// How many states of each sort a log may give at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub flush_prefixes: usize,
    pub write_prefixes: usize,
    pub subsets_per_epoch: usize,
}

impl Bounds {
    /// Every flush prefix and write prefix, and `subsets_per_epoch` subsets of each epoch.
    pub const UNBOUNDED: Bounds = Bounds {
        flush_prefixes: usize::MAX,
        write_prefixes: usize::MAX,
        subsets_per_epoch: 8,
    };
}

/// The states of a log, and what the bounds left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct States {
    pub states: Vec<CrashState>,
    /// The state at the last flush: every write the device was asked to make durable. Taken
    /// after the step returned, it must show everything the step committed.
    pub durable: CrashState,
    /// Distinct flush prefixes left out by the bounds.
    pub flush_prefixes_cut: usize,
    /// Write prefixes left out by the bounds.
    pub write_prefixes_cut: usize,
}

/// The crash states of `log`, sampled with `seed` where the bounds ask for fewer than exist.
pub fn states(log: &Log, seed: u64, bounds: Bounds) -> States {
    let mut rng = SplitMix64(seed);
    // One walk over the log: the disk of each write; for each flush, how many writes precede
    // it; at the end of each epoch (before each flush, and at the end of the log), how many
    // writes precede it and which of them are durable by then.
    let mut disks: Vec<usize> = Vec::new();
    // Per disk: the number of writes (of all disks) its last completed flush came after.
    let mut flushed: Vec<(usize, usize)> = Vec::new();
    let mut epoch_ends: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut flush_cuts: Vec<(usize, usize)> = vec![(0, 0)];
    let mut flushes = 0;
    let durable_now = |flushed: &[(usize, usize)], disks: &[usize]| -> Vec<usize> {
        (0..disks.len())
            .filter(|&w| flushed.iter().any(|&(d, upto)| d == disks[w] && w < upto))
            .collect()
    };
    for entry in log.entries() {
        match entry {
            Entry::Write { disk, .. } => disks.push(*disk),
            Entry::Flush { disk } => {
                let written = disks.len();
                epoch_ends.push((written, durable_now(&flushed, &disks)));
                flushes += 1;
                match flushed.iter_mut().find(|(d, _)| d == disk) {
                    Some(last) => last.1 = written,
                    None => flushed.push((*disk, written)),
                }
                // Consecutive flushes with nothing between them give the same state once.
                if flush_cuts.last().is_some_and(|&(_, w)| w != written) {
                    flush_cuts.push((flushes, written));
                }
            }
            Entry::Mark(_) => {}
        }
    }
    let total = disks.len();
    epoch_ends.push((total, durable_now(&flushed, &disks)));

    let durable_writes = flush_cuts.last().map_or(0, |&(_, w)| w);
    let durable = CrashState {
        cut: Cut::Flush(flush_cuts.last().map_or(0, |&(n, _)| n)),
        writes: (0..durable_writes).collect(),
    };

    let flush_total = flush_cuts.len();
    let flush_kept = sample_sorted(&mut rng, flush_total, bounds.flush_prefixes);
    let mut states: Vec<CrashState> = flush_kept
        .iter()
        .map(|&i| {
            let (n, w) = flush_cuts[i];
            CrashState {
                cut: Cut::Flush(n),
                writes: (0..w).collect(),
            }
        })
        .collect();
    if !states.iter().any(|s| s.writes == durable.writes) {
        states.push(durable.clone());
    }

    // Cuts between two writes that are not already a flush prefix.
    let prefixes: Vec<usize> = (1..=total)
        .filter(|w| !flush_cuts.iter().any(|&(_, fw)| fw == *w))
        .collect();
    let prefix_kept = sample_sorted(&mut rng, prefixes.len(), bounds.write_prefixes);
    states.extend(prefix_kept.iter().map(|&i| CrashState {
        cut: Cut::Prefix(prefixes[i]),
        writes: (0..prefixes[i]).collect(),
    }));

    // At the end of each epoch, subsets of what is not yet durable over what is. An epoch
    // whose end repeats the previous one's (consecutive flushes) adds nothing new.
    let mut previous_end = None;
    for (epoch, (end, durable_set)) in epoch_ends.iter().enumerate() {
        if previous_end == Some(*end) {
            continue;
        }
        previous_end = Some(*end);
        let unstable: Vec<usize> = (0..*end).filter(|w| !durable_set.contains(w)).collect();
        // One write has no order to get wrong; its prefixes cover it.
        if unstable.len() < 2 {
            continue;
        }
        let mut seen: Vec<Vec<usize>> = Vec::new();
        for _ in 0..bounds.subsets_per_epoch {
            let chosen: Vec<usize> = unstable
                .iter()
                .copied()
                .filter(|_| rng.next() & 1 == 1)
                .collect();
            // A contiguous head of the unstable writes is a prefix, not a reordering.
            let is_prefix = chosen.iter().enumerate().all(|(k, &w)| w == unstable[k]);
            if is_prefix || seen.contains(&chosen) {
                continue;
            }
            seen.push(chosen.clone());
            let mut writes: Vec<usize> = durable_set.iter().copied().chain(chosen).collect();
            writes.sort_unstable();
            states.push(CrashState {
                cut: Cut::Subset {
                    epoch,
                    sample: seen.len(),
                },
                writes,
            });
        }
    }

    States {
        states,
        durable,
        flush_prefixes_cut: flush_total - flush_kept.len(),
        write_prefixes_cut: prefixes.len() - prefix_kept.len(),
    }
}

/// `want` of the indices `0..total`, ascending: all of them if there are no more than `want`,
/// otherwise a seeded sample that always keeps the first and the last.
fn sample_sorted(rng: &mut SplitMix64, total: usize, want: usize) -> Vec<usize> {
    if total <= want {
        return (0..total).collect();
    }
    if want < 2 {
        return (total - want.min(1)..total).collect();
    }
    let mut inner: Vec<usize> = (1..total - 1).collect();
    // A partial Fisher-Yates shuffle picks want - 2 of the inner indices.
    for k in 0..want - 2 {
        let span = (inner.len() - k) as u64;
        let pick = k + usize::try_from(rng.next() % span).unwrap_or(0);
        inner.swap(k, pick);
    }
    let mut kept: Vec<usize> = inner[..want - 2].to_vec();
    kept.push(0);
    kept.push(total - 1);
    kept.sort_unstable();
    kept
}

/// A small, well-known generator (Steele, Lea and Flood's SplitMix64): states must follow from
/// the seed alone, on every machine and with every version of any library.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(n: u8) -> Entry {
        write_to(0, n)
    }

    fn write_to(disk: usize, n: u8) -> Entry {
        Entry::Write {
            disk,
            offset: u64::from(n) * 4096,
            data: vec![n; 4096],
        }
    }

    const FLUSH: Entry = Entry::Flush { disk: 0 };

    /// w0 w1 F w2 w3 w4 F w5 (returned)
    fn sample_log() -> Log {
        let mut log = Log::default();
        for e in [
            write(0),
            write(1),
            FLUSH,
            write(2),
            write(3),
            write(4),
            FLUSH,
            FLUSH,
            write(5),
            Entry::Mark("returned".into()),
        ] {
            log.push(e);
        }
        log
    }

    fn cuts(s: &States) -> Vec<String> {
        s.states.iter().map(|s| s.cut.to_string()).collect()
    }

    #[test]
    fn flush_and_write_prefixes_unbounded() {
        let log = sample_log();
        assert_eq!((log.writes(), log.flushes()), (6, 3));
        let s = states(
            &log,
            1,
            Bounds {
                subsets_per_epoch: 0,
                ..Bounds::UNBOUNDED
            },
        );
        // The repeated flush gives no second state; the durable state is the last flush.
        assert_eq!(
            cuts(&s),
            [
                "flush-0", "flush-1", "flush-2", "prefix-1", "prefix-3", "prefix-4", "prefix-6"
            ]
        );
        assert_eq!(s.durable.cut, Cut::Flush(2));
        assert_eq!(s.durable.writes, vec![0, 1, 2, 3, 4]);
        assert_eq!((s.flush_prefixes_cut, s.write_prefixes_cut), (0, 0));
    }

    #[test]
    fn subsets_keep_every_earlier_epoch_and_are_not_prefixes() {
        let log = sample_log();
        let s = states(&log, 7, Bounds::UNBOUNDED);
        let subsets: Vec<&CrashState> = s
            .states
            .iter()
            .filter(|s| matches!(s.cut, Cut::Subset { .. }))
            .collect();
        assert!(!subsets.is_empty());
        for state in subsets {
            let Cut::Subset { epoch, .. } = state.cut else {
                unreachable!()
            };
            let (before, members): (Vec<usize>, Vec<usize>) = match epoch {
                0 => (vec![], vec![0, 1]),
                1 => (vec![0, 1], vec![2, 3, 4]),
                other => panic!("epoch {other} has fewer than two writes"),
            };
            assert!(state.writes.starts_with(&before), "{state:?}");
            let rest = &state.writes[before.len()..];
            assert!(rest.iter().all(|w| members.contains(w)), "{state:?}");
            assert!(
                !members.starts_with(rest),
                "a prefix is no reordering: {state:?}"
            );
        }
    }

    #[test]
    fn same_seed_same_states_and_bounds_report_what_they_cut() {
        let mut log = Log::default();
        for n in 0..40 {
            log.push(write(n));
            if n % 10 == 9 {
                log.push(FLUSH);
            }
        }
        let bounds = Bounds {
            flush_prefixes: 3,
            write_prefixes: 5,
            subsets_per_epoch: 2,
        };
        let a = states(&log, 42, bounds);
        assert_eq!(a, states(&log, 42, bounds));
        assert_ne!(cuts(&a), cuts(&states(&log, 43, bounds)));
        // Five flush prefixes (0, 10, 20, 30, 40 writes), three kept, the last among them.
        assert_eq!(a.flush_prefixes_cut, 2);
        assert!(a.states.iter().any(|s| s.cut == Cut::Flush(4)));
        // 36 cuts between writes that are not at a flush, five kept.
        assert_eq!(a.write_prefixes_cut, 31);
        let prefixes = a
            .states
            .iter()
            .filter(|s| matches!(s.cut, Cut::Prefix(_)))
            .count();
        assert_eq!(prefixes, 5);
    }

    #[test]
    fn replay_yields_the_chosen_writes_in_log_order() {
        let log = sample_log();
        let state = CrashState {
            cut: Cut::Subset {
                epoch: 1,
                sample: 1,
            },
            writes: vec![0, 1, 4],
        };
        let offsets: Vec<u64> = log.replay(&state, 0).map(|(o, _)| o).collect();
        assert_eq!(offsets, vec![0, 4096, 4 * 4096]);
    }

    /// Two disks: a flush of one makes nothing of the other durable, and every state's writes
    /// go to the disk they were made on.
    #[test]
    fn a_flush_of_one_disk_leaves_the_other_unstable() {
        let mut log = Log::default();
        for e in [
            write_to(1, 0),
            write_to(0, 1),
            Entry::Flush { disk: 0 },
            write_to(0, 2),
            write_to(1, 3),
        ] {
            log.push(e);
        }
        let s = states(
            &log,
            3,
            Bounds {
                subsets_per_epoch: 64,
                ..Bounds::UNBOUNDED
            },
        );
        let subsets: Vec<&CrashState> = s
            .states
            .iter()
            .filter(|s| matches!(s.cut, Cut::Subset { .. }))
            .collect();
        // After disk 0's flush, write 1 (disk 0) is durable and always kept; write 0 of disk 1
        // came before that flush and may still be lost, while a later write of disk 1 is kept.
        assert!(
            subsets.iter().all(|s| {
                let Cut::Subset { epoch, .. } = s.cut else {
                    unreachable!()
                };
                epoch == 0 || s.writes.contains(&1)
            }),
            "{subsets:?}"
        );
        assert!(
            subsets
                .iter()
                .any(|s| !s.writes.contains(&0) && s.writes.contains(&3)),
            "{subsets:?}"
        );
        let all = CrashState {
            cut: Cut::Prefix(4),
            writes: vec![0, 1, 2, 3],
        };
        let to: Vec<Vec<u64>> = (0..2)
            .map(|d| log.replay(&all, d).map(|(o, _)| o / 4096).collect())
            .collect();
        assert_eq!(to, [vec![1, 2], vec![0, 3]]);
    }

    #[test]
    fn an_empty_log_has_only_the_starting_image() {
        let s = states(&Log::default(), 0, Bounds::UNBOUNDED);
        assert_eq!(cuts(&s), ["flush-0"]);
        assert!(s.durable.writes.is_empty());
    }
}
