//! One real-system trial on one filesystem: copy the cached root onto a fresh image, switch
//! coreutils to uutils with the `switchyard` command, use the tools, verify with dpkg, roll
//! back, compare, roll back again, and reinstall coreutils while switched.

use std::path::Path;
use std::process::Command;

use super::SystemError;
use super::{dpkg, snapshot};
use crate::fixture::Filesystem;
use crate::fs_kind::FsKind;

/// The image each trial's root lives on: the root is about 240 MiB.
const IMAGE_SIZE: u64 = 1 << 30;

/// Where rust-coreutils keeps one link per tool it provides.
const UUTILS_LINKS: &str = "usr/lib/cargo/bin/coreutils";

/// What a passing trial did, for its report line.
#[derive(Clone, Copy, Debug)]
pub struct Certified {
    pub switched: usize,
}

/// Runs the trial on a `kind` filesystem made under `dir`, with `root` copied onto it and the
/// `switchyard` binary at `switchyard`.
pub fn certify(
    kind: FsKind,
    dir: &Path,
    root: &Path,
    switchyard: &Path,
) -> Result<Certified, SystemError> {
    let filesystem = Filesystem::create_sized(kind, dir, IMAGE_SIZE)?;
    let result = certify_on(&filesystem.mount_point().join("root"), root, switchyard);
    let closed = filesystem.close();
    let certified = result?;
    closed?;
    Ok(certified)
}

/// Runs the reinstall trial on a `kind` filesystem: with coreutils switched,
/// `apt-get install --reinstall coreutils` (from the root's package cache, no network) puts the
/// GNU files back over the links; a rollback must then refuse with `E_DRIFT` (exit 90) and keep
/// every reinstalled file.
pub fn reinstall(
    kind: FsKind,
    dir: &Path,
    root: &Path,
    switchyard: &Path,
) -> Result<(), SystemError> {
    let filesystem = Filesystem::create_sized(kind, dir, IMAGE_SIZE)?;
    let result = reinstall_on(&filesystem.mount_point().join("root"), root, switchyard);
    let closed = filesystem.close();
    result?;
    closed?;
    Ok(())
}

fn reinstall_on(root: &Path, cached: &Path, switchyard: &Path) -> Result<(), SystemError> {
    let sy = copy_root(root, cached, switchyard)?;
    let applied = sy(&["apply", "--commit", "--from", UUTILS_LINKS], 0)?;
    let switched = applied["changed"].as_u64().unwrap_or(0) as usize;
    in_root(
        root,
        "apt-get install --reinstall --yes --no-download -o Dpkg::Use-Pty=0 coreutils",
    )?;
    sy(&["rollback", "--all"], 90)?;
    let verified = dpkg_verify(root, &[])?;
    check(
        verified.is_empty(),
        format!("the reinstalled files were not kept: dpkg --verify says {verified:?}"),
    )?;
    // Every original is still kept beside its sidecar, and status says what rollback found.
    let kept = kept_backups(root)?;
    check(
        kept == switched && switched > 0,
        format!(
            "{kept} originals kept as backups after the refused rollback, of {switched} switched"
        ),
    )?;
    let status = sy(&["status"], 0)?;
    let states: Vec<&str> = status["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["state"].as_str())
        .collect();
    check(
        states.len() == switched && states.iter().all(|s| *s == "drifted"),
        format!("status after the reinstall is not drifted for every target: {states:?}"),
    )
}

/// How many of the engine's backups (`.NAME.switchyard.N.bak`) `usr/bin` and `usr/sbin` hold.
fn kept_backups(root: &Path) -> Result<usize, SystemError> {
    let mut kept = 0;
    for dir in ["usr/bin", "usr/sbin"] {
        let path = root.join(dir);
        let entries = std::fs::read_dir(&path).map_err(|source| SystemError::Io {
            what: "cannot list",
            path: path.clone(),
            source,
        })?;
        kept += entries
            .flatten()
            .filter(|e| {
                let name = e.file_name();
                switchyard::EngineName::parse(&name)
                    .is_some_and(|n| n.file == switchyard::EngineFile::Backup)
            })
            .count();
    }
    Ok(kept)
}

/// Copies the cached root to `root`; returns a runner of `switchyard --root ROOT --json ...`
/// that expects an exit code and gives back the JSON it printed.
fn copy_root<'a>(
    root: &'a Path,
    cached: &Path,
    switchyard: &'a Path,
) -> Result<impl Fn(&[&str], i32) -> Result<serde_json::Value, SystemError> + 'a, SystemError> {
    let mut cp = Command::new("cp");
    cp.arg("-a").arg(cached).arg(root);
    run(&mut cp, 0)?;
    Ok(move |args: &[&str], code: i32| {
        let mut command = Command::new(switchyard);
        command.arg("--root").arg(root).arg("--json").args(args);
        let out = run(&mut command, code)?;
        Ok(serde_json::from_str(&out).unwrap_or(serde_json::Value::Null))
    })
}

fn certify_on(root: &Path, cached: &Path, switchyard: &Path) -> Result<Certified, SystemError> {
    let sy = copy_root(root, cached, switchyard)?;
    let before = snapshot::take(root)?;

    let applied = sy(&["apply", "--commit", "--from", UUTILS_LINKS], 0)?;
    let switched = applied["changed"].as_u64().unwrap_or(0) as usize;
    check(
        switched >= 100,
        format!("only {switched} targets were switched: {applied}"),
    )?;
    let multicall = std::fs::canonicalize(root.join("usr/bin/coreutils")).map_err(|source| {
        SystemError::Io {
            what: "cannot resolve",
            path: root.join("usr/bin/coreutils"),
            source,
        }
    })?;
    for tool in ["ls", "cp", "mv", "sort", "wc", "date", "env"] {
        let resolved = std::fs::canonicalize(root.join("usr/bin").join(tool)).ok();
        check(
            resolved.as_deref() == Some(multicall.as_path()),
            format!("usr/bin/{tool} does not lead to uutils: {resolved:?}"),
        )?;
    }
    let workload = in_root(
        root,
        "set -e; cd /tmp; ls / > listing; cp listing copy; mv copy moved; sort moved > sorted; \
         wc -l sorted; date; env > /dev/null; test -r /proc/self/status; ls --version",
    )?;
    check(
        !workload.contains("GNU coreutils"),
        format!("the workload ran GNU coreutils:\n{workload}"),
    )?;

    let verified = dpkg_verify(root, &["coreutils"])?;
    let changed = verified.iter().filter(|v| v.content_differs()).count();
    check(
        changed == switched,
        format!(
            "dpkg --verify coreutils reports {changed} changed files, not the {switched} switched"
        ),
    )?;

    let rolled = sy(&["rollback", "--all"], 0)?;
    check(
        rolled["rolled_back"][0]["restored"].as_u64() == Some(switched as u64),
        format!("rollback did not restore every target: {rolled}"),
    )?;
    let verified = dpkg_verify(root, &[])?;
    check(
        verified.is_empty(),
        format!("dpkg --verify after rollback: {verified:?}"),
    )?;
    let after = snapshot::take(root)?;
    let differences = snapshot::differences(&before, &after);
    check(
        differences.is_empty(),
        format!(
            "the root differs after rollback:\n{}",
            differences.join("\n")
        ),
    )?;
    let again = sy(&["rollback", "--all"], 0)?;
    check(
        again["rolled_back"][0]["restored"].as_u64() == Some(0),
        format!("a second rollback changed something: {again}"),
    )?;
    Ok(Certified { switched })
}

/// Runs `script` with `/bin/sh` inside the root, in a private mount namespace with `/proc`.
fn in_root(root: &Path, script: &str) -> Result<String, SystemError> {
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t proc proc \"$1/proc\" && exec chroot \"$1\" /bin/sh -c \"$2\"")
        .arg("sh")
        .arg(root)
        .arg(script);
    run(&mut command, 0)
}

/// `dpkg --root ROOT --verify PACKAGES...` (its status is 0 whatever it finds; the findings are
/// its output).
fn dpkg_verify(root: &Path, packages: &[&str]) -> Result<Vec<dpkg::Verified>, SystemError> {
    let mut command = Command::new("dpkg");
    command
        .arg("--root")
        .arg(root)
        .arg("--verify")
        .args(packages);
    let out = run(&mut command, 0)?;
    dpkg::parse(&out).map_err(|line| SystemError::Check(format!("dpkg --verify printed `{line}`")))
}

/// Runs `command`, which must exit with `code`; returns its standard output.
fn run(command: &mut Command, code: i32) -> Result<String, SystemError> {
    let shown = format!("{command:?}");
    let out = command.output().map_err(|e| SystemError::Command {
        command: shown.clone(),
        problem: format!("could not be started: {e}"),
    })?;
    if out.status.code() != Some(code) {
        return Err(SystemError::Command {
            command: shown,
            problem: format!(
                "ended with {} (expected exit {code}); stderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn check(holds: bool, otherwise: String) -> Result<(), SystemError> {
    if holds {
        Ok(())
    } else {
        Err(SystemError::Check(otherwise))
    }
}
