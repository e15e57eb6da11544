//! A plan of 1000 targets in one directory: the engine's commit and rollback, each beside a
//! baseline measured in the same process on the same filesystem — the bare minimum a durable swap
//! of 1000 files costs (rename each aside, rename a new link over it, one directory fsync).
//!
//! Prints times and ratios; asserts nothing about them (machines are noisy).

use std::fs::{self, File};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use switchyard::{
    ApplyMode, LinkRequest, MemorySink, Plan, Policy, RollbackOptions, SafePath, Switchyard,
};

const TARGETS: usize = 1000;
const ROUNDS: usize = 5;

fn tree(dir: &Path) -> PathBuf {
    let _ = fs::remove_dir_all(dir);
    let root = dir.join("root");
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::create_dir_all(root.join("opt/new")).unwrap();
    for i in 0..TARGETS {
        fs::write(
            root.join(format!("usr/bin/tool{i:04}")),
            format!("old {i}\n"),
        )
        .unwrap();
        fs::write(
            root.join(format!("opt/new/tool{i:04}")),
            format!("new {i}\n"),
        )
        .unwrap();
    }
    root
}

/// Rename each file aside and a new link over it, then fsync the directory once.
fn baseline(root: &Path) -> Duration {
    let bin = root.join("usr/bin");
    let started = Instant::now();
    for i in 0..TARGETS {
        let name = format!("tool{i:04}");
        fs::rename(bin.join(&name), bin.join(format!(".{name}.old"))).unwrap();
        symlink(
            format!("../../opt/new/{name}"),
            bin.join(format!(".{name}.new")),
        )
        .unwrap();
        fs::rename(bin.join(format!(".{name}.new")), bin.join(&name)).unwrap();
    }
    File::open(&bin).unwrap().sync_all().unwrap();
    started.elapsed()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let dir = std::env::temp_dir().join("switchyard-bench-plan-1000");
    let engine = Switchyard::new(Policy::permissive());
    let (mut base, mut commit, mut rollback) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        base.push(baseline(&tree(&dir)));

        let root = tree(&dir);
        let plan = Plan::links((0..TARGETS).map(|i| LinkRequest {
            source: SafePath::new(&root, format!("opt/new/tool{i:04}")).unwrap(),
            target: SafePath::new(&root, format!("usr/bin/tool{i:04}")).unwrap(),
        }))
        .unwrap();
        let started = Instant::now();
        engine
            .apply(&plan, ApplyMode::Commit, &mut MemorySink::default())
            .unwrap();
        commit.push(started.elapsed());
        let started = Instant::now();
        engine
            .rollback(
                &plan,
                RollbackOptions::default(),
                &mut MemorySink::default(),
            )
            .unwrap();
        rollback.push(started.elapsed());
    }
    let _ = fs::remove_dir_all(&dir);
    let (base, commit, rollback) = (median(base), median(commit), median(rollback));
    let ratio = |d: Duration| d.as_secs_f64() / base.as_secs_f64();
    println!(
        "plan of {TARGETS} targets, median of {ROUNDS} rounds, in {}",
        std::env::temp_dir().display()
    );
    println!(
        "  baseline (rename aside + link over + 1 dir fsync): {:>8.1} ms",
        base.as_secs_f64() * 1e3
    );
    println!(
        "  engine commit (sidecars, exchange, backups, syncs): {:>8.1} ms  ratio {:.2}",
        commit.as_secs_f64() * 1e3,
        ratio(commit)
    );
    println!(
        "  engine rollback:                                    {:>8.1} ms  ratio {:.2}",
        rollback.as_secs_f64() * 1e3,
        ratio(rollback)
    );
}
