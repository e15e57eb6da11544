//! Health checks: a hung check leaves nothing running, and a failing one says what it printed
//! and how it exited.

use std::fs;
use std::time::{Duration, Instant};

use switchyard::{ApplyMode, CommandSmoke, Decision, ErrorId, MemorySink, Stage};

use crate::support::{Sandbox, permissive};

fn engine_with_check(timeout: Duration) -> switchyard::Switchyard {
    permissive().with_smoke(CommandSmoke {
        args: vec!["--version".to_owned()],
        timeout,
    })
}

/// Whether process `pid` still runs (a zombie waiting for its parent no longer does).
fn running(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|s| !s.trim_start().starts_with('Z'))
    })
}

#[test]
fn a_timed_out_check_kills_its_whole_process_group() {
    let sb = Sandbox::new("health-timeout");
    let pid_file = sb.dir.join("sleeper.pid");
    let script = format!(
        "#!/bin/sh\nsleep 1000 &\necho $! > {}\nwait\n",
        pid_file.display()
    );
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", &script, 0o755);
    let err = engine_with_check(Duration::from_millis(500))
        .apply(
            &sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]),
            ApplyMode::Commit,
            &mut MemorySink::default(),
        )
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Smoke, "{err}");
    let pid: u32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The orphan is reaped by whoever adopts it; give that a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while running(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = running(pid);
    if left {
        // Ours, started by this test: do not leave it behind whatever the verdict.
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    assert!(
        !left,
        "the check's background `sleep 1000` (pid {pid}) outlived the timeout"
    );
}

#[test]
fn a_failing_check_reports_its_exit_status_and_last_output() {
    let sb = Sandbox::new("health-output");
    let mut script = String::from("#!/bin/sh\n");
    for i in 1..=30 {
        script.push_str(&format!("echo line {i}\n"));
    }
    script.push_str("echo broken library >&2\nexit 3\n");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", &script, 0o755);
    let mut facts = MemorySink::default();
    let err = engine_with_check(Duration::from_secs(10))
        .apply(
            &sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]),
            ApplyMode::Commit,
            &mut facts,
        )
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Smoke, "{err}");
    let message = err.to_string();
    for wanted in ["status 3", "line 30", "broken library"] {
        assert!(message.contains(wanted), "`{wanted}` missing: {message}");
    }
    assert!(
        !message.contains("line 1\n") && !message.contains("line 2 "),
        "{message}"
    );

    let fact = facts
        .facts
        .iter()
        .find(|f| {
            f.stage == Stage::ApplyResult
                && f.decision == Decision::Failure
                && f.action_id.is_some()
        })
        .expect("a failure fact of the checked action");
    assert_eq!(fact.check_status, Some(3));
    let tail = fact.check_output.as_deref().unwrap_or_default();
    assert_eq!(tail.last().map(String::as_str), Some("broken library"));
    assert!(tail.iter().any(|l| l == "line 30"), "{tail:?}");
    assert!(
        tail.len() < 30,
        "the whole output instead of its tail: {tail:?}"
    );
    // Output may name host paths: only the exit status stays in the canonical form.
    assert_eq!(fact.canonical().check_output, None);
    assert_eq!(fact.canonical().check_status, Some(3));
}
