//! The `switchyard` command beside `update-alternatives` for the size of a coreutils switch (103
//! names): commit and rollback with the command (permissive policy: no lock or rescue toolset,
//! but each target's health check still runs, 103 runs of a copy of `true`, which
//! update-alternatives has no counterpart of), against `--install` + `--set` and `--remove` of
//! the same names with a private `--altdir` and `--admindir`, on the same filesystem.
//!
//! Prints times and the ratio; asserts nothing about them (machines are noisy).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const NAMES: usize = 103;
const ROUNDS: usize = 3;

fn names() -> Vec<String> {
    (0..NAMES).map(|i| format!("tool{i:03}")).collect()
}

fn tree(dir: &Path) {
    let _ = fs::remove_dir_all(dir);
    for sub in ["root/usr/bin", "root/opt/new", "alt", "admin", "links"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for name in names() {
        fs::write(dir.join("root/usr/bin").join(&name), "old\n").unwrap();
        fs::copy("/usr/bin/true", dir.join("root/opt/new").join(&name)).unwrap();
    }
}

fn run(command: &mut Command) {
    let status = command.status().unwrap();
    assert!(status.success(), "{command:?} failed: {status}");
}

fn switchyard(dir: &Path, args: &[&str]) {
    run(Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("--root")
        .arg(dir.join("root"))
        .args(["--policy", "permissive"])
        .args(args)
        .stdout(std::process::Stdio::null()));
}

fn alternatives(dir: &Path, args: &[&str]) {
    run(Command::new("update-alternatives")
        .arg("--altdir")
        .arg(dir.join("alt"))
        .arg("--admindir")
        .arg(dir.join("admin"))
        .arg("--quiet")
        .args(args));
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let dir = std::env::temp_dir().join("switchyard-bench-alternatives");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        tree(&dir);
        let started = Instant::now();
        switchyard(&dir, &["apply", "--commit", "--from", "opt/new"]);
        switchyard(&dir, &["rollback", "--all"]);
        ours.push(started.elapsed());

        let started = Instant::now();
        for name in names() {
            let link = dir.join("links").join(&name);
            let path = dir.join("root/opt/new").join(&name);
            let (link, path) = (link.to_str().unwrap(), path.to_str().unwrap());
            alternatives(&dir, &["--install", link, &name, path, "100"]);
            alternatives(&dir, &["--set", &name, path]);
        }
        for name in names() {
            let path = dir.join("root/opt/new").join(&name);
            alternatives(&dir, &["--remove", &name, path.to_str().unwrap()]);
        }
        theirs.push(started.elapsed());
    }
    let _ = fs::remove_dir_all(&dir);
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "{NAMES} names, commit + rollback, median of {ROUNDS} rounds, in {}",
        std::env::temp_dir().display()
    );
    println!(
        "  update-alternatives --install + --set, --remove:                 {:>8.1} ms",
        theirs.as_secs_f64() * 1e3
    );
    println!(
        "  switchyard apply --commit (with health checks), rollback --all: {:>8.1} ms  ratio {:.2}",
        ours.as_secs_f64() * 1e3,
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
}
