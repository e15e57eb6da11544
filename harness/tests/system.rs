//! The real-system suite as tests: one test per filesystem (ext4, btrfs, xfs). Each copies a
//! cached Debian bookworm minbase root (with rust-coreutils and BusyBox, made once with
//! debootstrap) onto a fresh loop-mounted image, switches every GNU coreutils program uutils
//! provides with the `switchyard` command under the production policy, runs a workload inside
//! the root, checks `dpkg --verify`, rolls back, compares a snapshot of the root with the one
//! taken before, and rolls back once more (a no-op). A second test per filesystem reinstalls
//! coreutils while switched and expects the rollback's drift refusal, every reinstalled file kept.
//!
//! The `switchyard` binary is the one cargo built beside this test (`cargo test --workspace`
//! builds it); the root is cached under `$FSMATRIX_WORK_DIR/system-cache`, made from the Debian
//! mirror `$FSMATRIX_DEBIAN_MIRROR` names (the one `fsmatrix image bootstrap` uses too; by
//! default deb.debian.org), one cache per mirror.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;

use libtest_mimic::{Arguments, Failed, Trial};
use switchyard_harness::docker::{DEFAULT_MIRROR, MIRROR_ENV};
use switchyard_harness::error::chain;
use switchyard_harness::fs_kind::FsKind;
use switchyard_harness::system;
use switchyard_harness::workdir::DEFAULT_WORK_DIR;

const FILESYSTEMS: [FsKind; 3] = [FsKind::Ext4, FsKind::Btrfs, FsKind::Xfs];

fn work_dir() -> PathBuf {
    std::env::var_os("FSMATRIX_WORK_DIR")
        .map_or_else(|| PathBuf::from(DEFAULT_WORK_DIR), PathBuf::from)
}

/// The mirror `FSMATRIX_DEBIAN_MIRROR` names, read as `fsmatrix image bootstrap` reads it; unset,
/// the default.
fn mirror() -> Result<String, String> {
    match std::env::var(MIRROR_ENV) {
        Ok(mirror) => Ok(mirror),
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_MIRROR.to_owned()),
        Err(e) => Err(format!("{MIRROR_ENV}: {e}")),
    }
}

static ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The cached root, made by the first trial that needs it.
fn root() -> Result<&'static Path, Failed> {
    ROOT.get_or_init(|| {
        system::cached_root(&work_dir(), &mirror()?, &mut |line| {
            eprintln!("debootstrap: {line}");
        })
        .map_err(|e| chain(&e))
    })
    .as_deref()
    .map_err(|e| Failed::from(e.as_str()))
}

/// The `switchyard` binary built beside this test.
fn switchyard() -> Result<PathBuf, Failed> {
    let exe = std::env::current_exe().map_err(|e| Failed::from(e.to_string()))?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("switchyard"))
        .ok_or_else(|| Failed::from("cannot place the test binary"))?;
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} is missing: build it with `cargo build -p switchyard-cli` (or run `cargo test --workspace`)",
            bin.display()
        )
        .into())
    }
}

/// A fresh directory for one trial, removed again when it passes.
fn trial_dir(name: &str, kind: FsKind) -> Result<PathBuf, Failed> {
    let dir = work_dir()
        .join("system-trials")
        .join(format!("{name}-{kind}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| Failed::from(e.to_string()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| Failed::from(e.to_string()))?;
    Ok(dir)
}

fn certify(kind: FsKind) -> Result<(), Failed> {
    let (root, switchyard) = (root()?, switchyard()?);
    let dir = trial_dir("certify", kind)?;
    let certified = system::certify(kind, &dir, root, &switchyard).map_err(|e| chain(&e))?;
    eprintln!(
        "coreutils->uutils@{kind}: {} targets switched and rolled back",
        certified.switched
    );
    std::fs::remove_dir_all(&dir).map_err(|e| Failed::from(e.to_string()))
}

fn reinstall(kind: FsKind) -> Result<(), Failed> {
    let (root, switchyard) = (root()?, switchyard()?);
    let dir = trial_dir("reinstall", kind)?;
    system::reinstall(kind, &dir, root, &switchyard).map_err(|e| chain(&e))?;
    std::fs::remove_dir_all(&dir).map_err(|e| Failed::from(e.to_string()))
}

/// Proves: REQ-SYS1
fn main() -> ExitCode {
    let args = Arguments::from_args();
    if args.ignored {
        eprintln!(
            "system: no trial is ever ignored, so --ignored would run nothing; run without it"
        );
        return ExitCode::FAILURE;
    }
    let trials = FILESYSTEMS
        .into_iter()
        .flat_map(|kind| {
            [
                Trial::test(format!("coreutils-uutils@{kind}"), move || certify(kind)),
                Trial::test(format!("reinstall-drift@{kind}"), move || reinstall(kind)),
            ]
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    if conclusion.num_ignored > 0 {
        return ExitCode::FAILURE;
    }
    conclusion.exit_code()
}
