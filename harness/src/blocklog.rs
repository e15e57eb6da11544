//! The ordered log of what a filesystem wrote to its block device during one step, and the
//! crash states a power cut could leave from it.
//!
//! The model is fstests' dm-log-writes and CrashMonkey's: a disk may keep any subset of the
//! writes issued since its last completed flush, in any order, but nothing written before a
//! flush may be lost. So the states are
//!
//! - every prefix that ends at a flush (what the disk must at least hold at that moment),
//! - prefixes that end at single writes (a cut between two writes), a seeded sample of them when
//!   there are more than the bounds allow, and
//! - inside each epoch (the writes between two flushes), seeded subsets of its writes over
//!   everything flushed before it (writes that reached the disk out of order).
//!
//! Pure: no I/O. The same log and seed always give the same states.

use std::fmt;

/// One entry of the log, in the order the device received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Write {
        offset: u64,
        data: Vec<u8>,
    },
    /// A flush barrier: everything written before it is durable once it completes.
    Flush,
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
            .filter(|e| matches!(e, Entry::Flush))
            .count()
    }

    /// The log's writes with their index among the writes, in log order.
    fn write_entries(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Write { offset, data } => Some((*offset, data.as_slice())),
            _ => None,
        })
    }

    /// The writes of `state`, in log order: what to lay over the image the log started from.
    pub fn replay<'a>(&'a self, state: &'a CrashState) -> impl Iterator<Item = (u64, &'a [u8])> {
        self.write_entries()
            .enumerate()
            .filter(|(i, _)| state.writes.binary_search(i).is_ok())
            .map(|(_, w)| w)
    }

    /// For each write (by index among the writes), the epoch it belongs to: the number of
    /// flushes before it.
    fn epochs(&self) -> Vec<usize> {
        let mut flushes = 0;
        let mut out = Vec::new();
        for entry in &self.entries {
            match entry {
                Entry::Write { .. } => out.push(flushes),
                Entry::Flush => flushes += 1,
                Entry::Mark(_) => {}
            }
        }
        out
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
    let epochs = log.epochs();
    let total = epochs.len();
    // The number of writes before each flush; consecutive flushes with nothing between them
    // give the same state once.
    let mut flush_cuts: Vec<(usize, usize)> = vec![(0, 0)];
    let mut written = 0;
    let mut n = 0;
    for entry in log.entries() {
        match entry {
            Entry::Write { .. } => written += 1,
            Entry::Flush => {
                n += 1;
                if flush_cuts.last().is_some_and(|&(_, w)| w != written) {
                    flush_cuts.push((n, written));
                }
            }
            Entry::Mark(_) => {}
        }
    }
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

    // Inside each epoch, subsets of its writes over everything before it.
    let epoch_count = epochs.last().map_or(0, |&e| e + 1);
    for epoch in 0..epoch_count {
        let members: Vec<usize> = (0..total).filter(|&w| epochs[w] == epoch).collect();
        // One write has no order to get wrong; its prefixes cover it.
        if members.len() < 2 {
            continue;
        }
        let before = members[0];
        let mut seen: Vec<Vec<usize>> = Vec::new();
        for _ in 0..bounds.subsets_per_epoch {
            let chosen: Vec<usize> = members
                .iter()
                .copied()
                .filter(|_| rng.next() & 1 == 1)
                .collect();
            // A contiguous head of the epoch is a prefix, not a reordering.
            let is_prefix = chosen.iter().enumerate().all(|(k, &w)| w == members[k]);
            if is_prefix || seen.contains(&chosen) {
                continue;
            }
            seen.push(chosen.clone());
            let sample = seen.len();
            states.push(CrashState {
                cut: Cut::Subset { epoch, sample },
                writes: (0..before).chain(chosen).collect(),
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
        Entry::Write {
            offset: u64::from(n) * 4096,
            data: vec![n; 4096],
        }
    }

    /// w0 w1 F w2 w3 w4 F w5 (returned)
    fn sample_log() -> Log {
        let mut log = Log::default();
        for e in [
            write(0),
            write(1),
            Entry::Flush,
            write(2),
            write(3),
            write(4),
            Entry::Flush,
            Entry::Flush,
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
                log.push(Entry::Flush);
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
        let offsets: Vec<u64> = log.replay(&state).map(|(o, _)| o).collect();
        assert_eq!(offsets, vec![0, 4096, 4 * 4096]);
    }

    #[test]
    fn an_empty_log_has_only_the_starting_image() {
        let s = states(&Log::default(), 0, Bounds::UNBOUNDED);
        assert_eq!(cuts(&s), ["flush-0"]);
        assert!(s.durable.writes.is_empty());
    }
}
