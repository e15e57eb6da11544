//! Plans of N = 10, 100 and 1000 targets in one directory: the engine's commit and rollback,
//! each beside a floor measured in the same process on the same filesystem — the bare minimum a
//! durable swap of N files costs (rename each aside, rename a new link over it, one directory
//! fsync) — and beside `update-alternatives` switching the same N names to the same sources
//! (`--install`, then `--remove`) with a private `--altdir` and `--admindir`.
//!
//! Prints times and ratios; asserts nothing about them (machines are noisy).

use std::fs::{self, File};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchyard::{
    ApplyMode, LinkRequest, MemorySink, Plan, Policy, RollbackOptions, SafePath, Switchyard,
};

const SIZES: [usize; 3] = [10, 100, 1000];
const ROUNDS: usize = 5;

fn name(i: usize) -> String {
    format!("tool{i:04}")
}

/// `root/usr/bin/toolNNNN` (the priors) and `root/opt/new/toolNNNN` (the sources).
fn tree(dir: &Path, n: usize) -> PathBuf {
    let _ = fs::remove_dir_all(dir);
    let root = dir.join("root");
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::create_dir_all(root.join("opt/new")).unwrap();
    for i in 0..n {
        fs::write(root.join("usr/bin").join(name(i)), format!("old {i}\n")).unwrap();
        fs::write(root.join("opt/new").join(name(i)), format!("new {i}\n")).unwrap();
    }
    root
}

/// Rename each file aside and a new link over it, then fsync the directory once.
fn floor(root: &Path, n: usize) -> Duration {
    let bin = root.join("usr/bin");
    let started = Instant::now();
    for i in 0..n {
        let name = name(i);
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

/// The engine's commit, then its rollback, of the plan that links every target.
fn engine(root: &Path, n: usize) -> (Duration, Duration) {
    let engine = Switchyard::new(Policy::permissive());
    let plan = Plan::links((0..n).map(|i| LinkRequest {
        source: SafePath::new(root, format!("opt/new/{}", name(i))).unwrap(),
        target: SafePath::new(root, format!("usr/bin/{}", name(i))).unwrap(),
    }))
    .unwrap();
    let started = Instant::now();
    engine
        .apply(&plan, ApplyMode::Commit, &mut MemorySink::default())
        .unwrap();
    let commit = started.elapsed();
    let started = Instant::now();
    engine
        .rollback(
            &plan,
            RollbackOptions::default(),
            &mut MemorySink::default(),
        )
        .unwrap();
    (commit, started.elapsed())
}

/// `update-alternatives --install` of every name (the switch), then `--remove` of every name.
fn alternatives(dir: &Path, root: &Path, n: usize) -> (Duration, Duration) {
    for sub in ["alt", "admin", "links"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let run = |args: &[&str]| {
        let status = Command::new("update-alternatives")
            .arg("--altdir")
            .arg(dir.join("alt"))
            .arg("--admindir")
            .arg(dir.join("admin"))
            .arg("--quiet")
            .args(args)
            .stdout(Stdio::null())
            .status()
            .expect("update-alternatives runs (it is part of the Debian package dpkg)");
        assert!(status.success(), "update-alternatives {args:?}: {status}");
    };
    let source = |i: usize| root.join("opt/new").join(name(i));
    let started = Instant::now();
    for i in 0..n {
        let link = dir.join("links").join(name(i));
        let (link, path) = (link.to_str().unwrap(), source(i));
        run(&["--install", link, &name(i), path.to_str().unwrap(), "100"]);
    }
    let switch = started.elapsed();
    let started = Instant::now();
    for i in 0..n {
        run(&["--remove", &name(i), source(i).to_str().unwrap()]);
    }
    (switch, started.elapsed())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let dir = std::env::temp_dir().join("switchyard-bench-commit");
    println!(
        "engine: median of {ROUNDS} rounds in {} (update-alternatives: one round)",
        std::env::temp_dir().display()
    );
    println!(
        "  {:>5}  {:>9} {:>9} {:>6}  {:>9} {:>6}  {:>10} {:>10} {:>8}",
        "N",
        "floor ms",
        "commit",
        "ratio",
        "rollback",
        "ratio",
        "u-a switch",
        "u-a back",
        "u-a / us"
    );
    for n in SIZES {
        let (mut floors, mut commits, mut rollbacks) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            floors.push(floor(&tree(&dir, n), n));
            let (commit, rollback) = engine(&tree(&dir, n), n);
            commits.push(commit);
            rollbacks.push(rollback);
        }
        let root = tree(&dir, n);
        let (switch, back) = alternatives(&dir, &root, n);
        let (floor, commit, rollback) = (median(floors), median(commits), median(rollbacks));
        println!(
            "  {n:>5}  {:>9.1} {:>9.1} {:>6.2}  {:>9.1} {:>6.2}  {:>10.1} {:>10.1} {:>8.1}",
            ms(floor),
            ms(commit),
            ms(commit) / ms(floor),
            ms(rollback),
            ms(rollback) / ms(floor),
            ms(switch),
            ms(back),
            ms(switch + back) / ms(commit + rollback),
        );
    }
    let _ = fs::remove_dir_all(&dir);
    println!(
        "  ratio: the engine's time over the floor's; u-a / us: update-alternatives' switch and \
         back over the engine's commit and rollback"
    );
}
