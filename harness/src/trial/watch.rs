//! The watcher: every step child runs under `strace`, and its trace is held to the rule that a
//! target's name is only ever replaced in one step — `renameat2` onto it (exchange, or a rename
//! over it) — never unlinked or renamed away first, which would leave a window in which the
//! target is missing. The one exception is removing a target for good (a link whose prior state
//! was absent): an unlink after which nothing is put at that name again in the step.
//!
//! A second rule holds for the engine's records: a sidecar is published whole, by a link or a
//! rename of a complete file, never written under its final name (`open` with `O_CREAT`), where
//! a crash mid-write leaves a truncated record that rollback must trust.
//!
//! A journal often commits such an unlink and the rename after it in one transaction, so no crash
//! state need show the gap; the system calls do, deterministically. Parsing and the rules are
//! pure functions over the trace text.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use switchyard::{EngineFile, EngineName};

/// The tracer, a Debian package of its own.
pub(crate) const STRACE: &str = "strace";

/// The system calls that remove, move or create a name (`openat`: only those with `O_CREAT` are
/// kept; the engine and the programs it runs open files with `openat` alone).
const CALLS: &str =
    "trace=rename,renameat,renameat2,unlink,unlinkat,link,linkat,symlink,symlinkat,openat";

/// `strace` running `exe`, writing the successful calls that change names to `log`: strings in
/// hex (`-xx`) so any byte of a name parses back, directory descriptors with their paths (`-y`),
/// and the calls of every thread and process `exe` starts (`-f`): the engine syncs from threads
/// of its own, and a name changed there must not go unseen. With `--seccomp-bpf` only the traced
/// calls stop the tracee, not all of them: a call stopped at costs about 30 µs more here, and a
/// step, its health checks and a recorded trial's rollbacks make thousands of calls the watcher
/// ignores (strace falls back to stopping at every call where it cannot install the filter).
pub(crate) fn traced(exe: &Path, log: &Path) -> Command {
    let mut cmd = Command::new(STRACE);
    cmd.args([
        "-f",
        "--seccomp-bpf",
        "-qq",
        "-xx",
        "-y",
        "-z",
        "-e",
        "signal=none",
        "-e",
        CALLS,
        "-o",
    ])
    .arg(log)
    .arg("--")
    .arg(exe);
    cmd
}

/// One name-changing call, with absolute paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    Rename {
        from: PathBuf,
        to: PathBuf,
        exchange: bool,
    },
    Unlink(PathBuf),
    Create(PathBuf),
    /// `openat` with `O_CREAT`: a file made (or opened to write) under its name in place.
    OpenCreate(PathBuf),
}

/// A line of the trace that is not what `strace` writes for the calls traced.
#[derive(Debug, thiserror::Error)]
#[error("trace line {line}: cannot read `{text}`")]
pub(crate) struct BadTraceLine {
    pub(crate) line: usize,
    pub(crate) text: String,
}

/// The calls of a trace written by [`traced`], in order.
pub(crate) fn parse(trace: &str) -> Result<Vec<Call>, BadTraceLine> {
    let mut calls = Vec::new();
    for (n, text) in trace.lines().enumerate() {
        let text = without_pid(text.trim());
        // `???(`: a call strace saw begin without knowing which (the process was killed at a
        // crash point or by a power cut as it entered it); none of the traced calls is unnamed.
        if text.is_empty()
            || text.starts_with("+++")
            || text.starts_with("---")
            || text.starts_with("???(")
        {
            continue;
        }
        let bad = || BadTraceLine {
            line: n + 1,
            text: text.to_owned(),
        };
        if let Some(call) = parse_call(text).ok_or_else(bad)? {
            calls.push(call);
        }
    }
    Ok(calls)
}

/// A line without the pid `-f` writes before it: `PID ` into a file, `[pid PID] ` elsewhere.
fn without_pid(text: &str) -> &str {
    let rest = text
        .strip_prefix("[pid")
        .and_then(|r| r.trim_start().split_once(']'))
        .filter(|(pid, _)| is_pid(pid))
        .map(|(_, rest)| rest);
    let rest = rest.or_else(|| {
        text.split_once(' ')
            .filter(|(pid, _)| is_pid(pid))
            .map(|(_, rest)| rest)
    });
    rest.map_or(text, str::trim_start)
}

fn is_pid(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// `None` for a line that is not one of the traced calls; `Some(None)` for a call that changes
/// no name (an `openat` without `O_CREAT`).
fn parse_call(text: &str) -> Option<Option<Call>> {
    let (name, rest) = text.split_once('(')?;
    let (args, _result) = rest.rsplit_once(") = ")?;
    // With `-xx` every string and path is hex escapes, so a comma only ever separates arguments.
    let args: Vec<&str> = args.split(", ").collect();
    let at =
        |dir: &str, name: &str| -> Option<PathBuf> { Some(dir_path(dir)?.join(string(name)?)) };
    let plain = |name: &str| -> Option<PathBuf> { Some(PathBuf::from(string(name)?)) };
    Some(Some(match (name, args.as_slice()) {
        ("rename", [from, to]) => Call::Rename {
            from: plain(from)?,
            to: plain(to)?,
            exchange: false,
        },
        ("renameat", [fd, from, td, to]) => Call::Rename {
            from: at(fd, from)?,
            to: at(td, to)?,
            exchange: false,
        },
        ("renameat2", [fd, from, td, to, flags]) => Call::Rename {
            from: at(fd, from)?,
            to: at(td, to)?,
            exchange: flags.split('|').any(|f| f == "RENAME_EXCHANGE"),
        },
        ("unlink", [path]) => Call::Unlink(plain(path)?),
        ("unlinkat", [dir, path, _flags]) => Call::Unlink(at(dir, path)?),
        ("link", [_, new]) | ("symlink", [_, new]) => Call::Create(plain(new)?),
        ("linkat", [_, _, dir, new, _]) | ("symlinkat", [_, dir, new]) => {
            Call::Create(at(dir, new)?)
        }
        ("openat", [dir, path, flags, ..]) => {
            if !flags.split('|').any(|f| f == "O_CREAT") {
                return Some(None);
            }
            Call::OpenCreate(at(dir, path)?)
        }
        _ => return None,
    }))
}

/// The path of a directory argument as `-y` prints it: `3<PATH>` or `AT_FDCWD<PATH>`.
fn dir_path(arg: &str) -> Option<PathBuf> {
    let (_, path) = arg.split_once('<')?;
    Some(PathBuf::from(unescape(path.strip_suffix('>')?)?))
}

/// A quoted string argument.
fn string(arg: &str) -> Option<OsString> {
    unescape(arg.strip_prefix('"')?.strip_suffix('"')?)
}

/// `\xHH` escapes (all `-xx` writes) to bytes.
fn unescape(hex: &str) -> Option<OsString> {
    let mut bytes = Vec::new();
    let mut rest = hex;
    while !rest.is_empty() {
        let digits = rest.strip_prefix("\\x")?.get(..2)?;
        bytes.push(u8::from_str_radix(digits, 16).ok()?);
        rest = &rest[4..];
    }
    Some(OsString::from_vec(bytes))
}

/// A target the rule watches: its real path and its name in messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Watched {
    pub(crate) path: PathBuf,
    pub(crate) rel: String,
}

/// Every break of the rules in `calls`, described for a failure message.
pub(crate) fn violations(calls: &[Call], targets: &[Watched]) -> Vec<String> {
    let mut found = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        if let Call::OpenCreate(path) = call
            && let Some(name) = path.file_name()
            && EngineName::parse(name).is_some_and(|n| n.file == EngineFile::Sidecar)
        {
            found.push(format!(
                "the sidecar {} was written under its final name, where a crash mid-write \
                 leaves a truncated record, instead of being published whole by a link or rename",
                file_name(path)
            ));
        }
        for target in targets {
            let t = target.path.as_path();
            match call {
                Call::Rename {
                    from,
                    to,
                    exchange: false,
                } if from == t && to != t => found.push(format!(
                    "{} was renamed away (to {}) instead of being replaced in one step",
                    target.rel,
                    file_name(to)
                )),
                Call::Unlink(path) if path == t => {
                    if let Some(next) = calls[i + 1..].iter().find(|c| puts_at(c, t)) {
                        found.push(format!(
                            "{} was unlinked and then {}: it was missing in between",
                            target.rel,
                            describe_put(next)
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// Whether `call` puts an object at `path`.
fn puts_at(call: &Call, path: &Path) -> bool {
    match call {
        Call::Rename { from, to, exchange } => to == path || (*exchange && from == path),
        Call::Create(created) | Call::OpenCreate(created) => created == path,
        Call::Unlink(_) => false,
    }
}

fn describe_put(call: &Call) -> String {
    match call {
        Call::Rename { from, .. } => format!("{} was renamed onto it", file_name(from)),
        Call::Create(_) => "a new object was created at its name".to_owned(),
        Call::OpenCreate(_) => "a file was created at its name".to_owned(),
        Call::Unlink(_) => String::new(),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> String {
        s.bytes().map(|b| format!("\\x{b:02x}")).collect()
    }

    fn dir(path: &str) -> String {
        format!("3<{}>", hex(path))
    }

    fn quoted(s: &str) -> String {
        format!("\"{}\"", hex(s))
    }

    fn renameat2(from: &str, to: &str, flags: &str) -> String {
        let d = dir("/m/root/usr/bin");
        format!(
            "renameat2({d}, {}, {d}, {}, {flags}) = 0",
            quoted(from),
            quoted(to)
        )
    }

    fn unlinkat(name: &str) -> String {
        format!(
            "unlinkat({}, {}, 0) = 0",
            dir("/m/root/usr/bin"),
            quoted(name)
        )
    }

    fn ls() -> Vec<Watched> {
        vec![Watched {
            path: "/m/root/usr/bin/ls".into(),
            rel: "usr/bin/ls".into(),
        }]
    }

    fn check(lines: &[String]) -> Vec<String> {
        violations(&parse(&lines.join("\n")).unwrap(), &ls())
    }

    #[test]
    fn reads_what_strace_writes() {
        let symlink = format!(
            "symlinkat({}, AT_FDCWD<{}>, {}) = 0",
            quoted("../../opt/ls"),
            hex("/m/root/usr/bin"),
            quoted(".ls.switchyard.1.tmp")
        );
        let calls = parse(
            &[
                symlink,
                renameat2(".ls.switchyard.1.tmp", "ls", "RENAME_EXCHANGE"),
            ]
            .join("\n"),
        )
        .unwrap();
        assert_eq!(
            calls,
            [
                Call::Create("/m/root/usr/bin/.ls.switchyard.1.tmp".into()),
                Call::Rename {
                    from: "/m/root/usr/bin/.ls.switchyard.1.tmp".into(),
                    to: "/m/root/usr/bin/ls".into(),
                    exchange: true
                }
            ]
        );
        assert!(parse("renameat2(3, oops) = 0").is_err());
    }

    #[test]
    fn the_engines_own_steps_keep_the_rule() {
        // Apply over a prior object, rollback of it, and the removal of a link to an absent prior.
        let apply = [
            renameat2(".ls.switchyard.1.tmp", "ls", "RENAME_EXCHANGE"),
            renameat2(
                ".ls.switchyard.1.tmp",
                ".ls.switchyard.1.bak",
                "RENAME_NOREPLACE",
            ),
        ];
        let rollback = [
            renameat2(".ls.switchyard.1.bak", "ls", "RENAME_EXCHANGE"),
            unlinkat(".ls.switchyard.1.bak"),
        ];
        assert_eq!(check(&apply), Vec::<String>::new());
        assert_eq!(check(&rollback), Vec::<String>::new());
        assert_eq!(check(&[unlinkat("ls")]), Vec::<String>::new());
    }

    #[test]
    fn an_unlink_before_the_rename_breaks_it() {
        let broken = [unlinkat("ls"), renameat2(".ls.switchyard.1.tmp", "ls", "0")];
        let found = check(&broken);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("usr/bin/ls was unlinked"), "{found:?}");
    }

    /// The rule on what the real `strace` writes: `rm` of a target and then `mv` onto it (two
    /// traced processes, one trace) is caught; the `mv` alone, a one-step replace, is not.
    #[test]
    fn a_real_trace_of_an_unlink_then_a_rename_breaks_it() {
        let dir = Path::new("/tmp/fsmatrix-unit-tests/watch");
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let (ls, new) = (dir.join("ls"), dir.join("new"));
        std::fs::write(&ls, "GNU ls\n").unwrap();
        std::fs::write(&new, "uutils ls\n").unwrap();
        let traced_run = |exe: &str, args: &[&Path]| -> String {
            let log = dir.join(format!("{exe}.trace"));
            let status = traced(Path::new(exe), &log)
                .args(args)
                .status()
                .unwrap_or_else(|e| {
                    panic!("running {STRACE} failed ({e}): apt-get install strace")
                });
            assert!(status.success(), "{exe}: {status}");
            std::fs::read_to_string(&log).unwrap()
        };
        let removed = traced_run("rm", &[&ls]);
        let renamed = traced_run("mv", &[Path::new("-T"), &new, &ls]);
        let watched = [Watched {
            path: std::fs::canonicalize(dir).unwrap().join("ls"),
            rel: "ls".to_owned(),
        }];
        let found = violations(&parse(&(removed + &renamed)).unwrap(), &watched);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("ls was unlinked and then new was renamed onto it"),
            "{found:?}"
        );
        assert_eq!(
            violations(&parse(&renamed).unwrap(), &watched),
            Vec::<String>::new()
        );
    }

    /// Following threads and children (`-f`), strace writes each line after the pid that made
    /// the call: `PID ` into a file, `[pid PID] ` onto a terminal.
    #[test]
    fn reads_lines_after_a_pid() {
        let call = renameat2(".ls.switchyard.1.tmp", "ls", "RENAME_EXCHANGE");
        let unlink = unlinkat(".ls.switchyard.1.bak");
        let trace = format!("4242 {call}\n[pid  4243] {unlink}\n[pid 4244] ???( <unfinished ...>");
        let calls = parse(&trace).unwrap();
        assert_eq!(
            calls,
            [
                Call::Rename {
                    from: "/m/root/usr/bin/.ls.switchyard.1.tmp".into(),
                    to: "/m/root/usr/bin/ls".into(),
                    exchange: true
                },
                Call::Unlink("/m/root/usr/bin/.ls.switchyard.1.bak".into())
            ]
        );
        assert!(parse("4242 renameat2(3, oops) = 0").is_err());
    }

    /// A name changed by a process the traced one starts (a thread is started the same way, by
    /// `clone`) is in the trace: `sh` makes no such call itself, its `rm` and `mv` do.
    #[test]
    fn a_real_trace_follows_the_processes_and_threads_it_starts() {
        let dir = Path::new("/tmp/fsmatrix-unit-tests/watch-follow");
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let (ls, new) = (dir.join("ls"), dir.join("new"));
        std::fs::write(&ls, "GNU ls\n").unwrap();
        std::fs::write(&new, "uutils ls\n").unwrap();
        let log = dir.join("sh.trace");
        let status = traced(Path::new("sh"), &log)
            .arg("-c")
            .arg(r#"rm "$1" && mv -T "$2" "$1""#)
            .args(["sh".as_ref(), ls.as_os_str(), new.as_os_str()])
            .status()
            .unwrap_or_else(|e| panic!("running {STRACE} failed ({e}): apt-get install strace"));
        assert!(status.success(), "sh: {status}");
        let watched = [Watched {
            path: std::fs::canonicalize(dir).unwrap().join("ls"),
            rel: "ls".to_owned(),
        }];
        let trace = std::fs::read_to_string(&log).unwrap();
        let found = violations(&parse(&trace).unwrap(), &watched);
        assert_eq!(found.len(), 1, "{found:?} in {trace}");
        assert!(found[0].contains("ls was unlinked"), "{found:?}");
    }

    #[test]
    fn a_rename_away_breaks_it() {
        let found = check(&[renameat2("ls", ".ls.switchyard.1.bak", "RENAME_NOREPLACE")]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("renamed away"), "{found:?}");
    }

    fn openat(name: &str, flags: &str) -> String {
        format!(
            "openat({}, {}, {flags}, 0600) = 4<{}>",
            dir("/m/root/usr/bin"),
            quoted(name),
            hex(&format!("/m/root/usr/bin/{name}"))
        )
    }

    #[test]
    fn a_sidecar_written_under_its_final_name_breaks_the_record_rule() {
        let found = check(&[openat(
            ".ls.switchyard.1.json",
            "O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC",
        )]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("written under its final name"),
            "{found:?}"
        );
    }

    #[test]
    fn a_sidecar_published_whole_and_plain_opens_keep_the_rules() {
        let link = format!(
            "linkat({}, {}, {}, {}, AT_SYMLINK_FOLLOW) = 0",
            "AT_FDCWD<\\x2f>",
            quoted("/proc/self/fd/4"),
            dir("/m/root/usr/bin"),
            quoted(".ls.switchyard.1.json")
        );
        let lines = [
            openat(".", "O_RDWR|O_CLOEXEC|O_TMPFILE"),
            openat(
                ".ls.switchyard.1.json.tmp",
                "O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC",
            ),
            openat("ls", "O_RDONLY|O_NOFOLLOW|O_CLOEXEC"),
            link,
            renameat2(".ls.switchyard.1.tmp", "ls", "RENAME_EXCHANGE"),
        ];
        let calls = parse(&lines.join("\n")).unwrap();
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert_eq!(violations(&calls, &ls()), Vec::<String>::new());
    }
}
