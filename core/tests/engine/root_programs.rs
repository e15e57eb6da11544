//! Health checks run the root's own programs: a link in the root, absolute or relative, resolves
//! inside the root as if it were `/`, and the program runs on the host, with the host's
//! interpreter and libraries. Only the host's file could pass where the root's is broken.

use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard::{
    ApplyMode, CommandSmoke, ErrorId, Expect, HealthCheck, HealthProfile, LinkStyle, MemorySink,
    Outcome, Policy, ProgramRun, ProgramRunner, SafePath, SmokeRunner, Switchyard,
};

use crate::support::{Sandbox, commit, host_busybox, roll_back};

fn engine(smoke: impl SmokeRunner + 'static, policy: Policy) -> Switchyard {
    Switchyard::new(Policy {
        require_smoke: true,
        ..policy
    })
    .with_smoke(smoke)
}

/// A root whose own `usr/bin/true` is broken, and a source that is an absolute link to it:
/// on the host, `/usr/bin/true` works.
fn absolute_link_to_a_broken_true(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    sb.file("usr/bin/true", "#!/bin/sh\nexit 3\n", 0o755)
        .file("usr/bin/tool", "old\n", 0o755)
        .symlink("opt/new/tool", "/usr/bin/true");
    sb
}

/// Commits `opt/new/tool -> usr/bin/tool` on a tree from [`absolute_link_to_a_broken_true`],
/// which `engine`'s health check must refuse, and roll back.
fn refused(name: &str, engine: &Switchyard) {
    let sb = absolute_link_to_a_broken_true(name);
    let before = sb.snapshot_without_sidecars();
    let err = engine
        .apply(
            &sb.plan(&[("opt/new/tool", "usr/bin/tool")]),
            ApplyMode::Commit,
            &mut MemorySink::default(),
        )
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Smoke, "{name}: {err}");
    assert!(err.to_string().contains("status 3"), "{name}: {err}");
    assert_eq!(
        sb.snapshot_without_sidecars(),
        before,
        "{name}: not rolled back"
    );
}

/// Proves: REQ-H4
#[test]
fn a_check_follows_an_absolute_link_to_the_roots_own_broken_program() {
    let mut profile = HealthProfile::coreutils();
    profile.by_target.insert(
        "usr/bin/tool".into(),
        HealthCheck::new(&[], Expect::Exit(vec![0])),
    );
    refused(
        "root-programs-profile",
        &engine(profile, Policy::permissive()),
    );
    // The harness's check: `--version`, which the host's `true` answers with 0.
    refused(
        "root-programs-command",
        &engine(CommandSmoke::default(), Policy::permissive()),
    );
}

/// An absolute link style writes `/opt/...` destinations, which only the root has.
/// Proves: REQ-H4
#[test]
fn a_check_of_an_absolute_link_runs_the_program_the_root_has() {
    let sb = Sandbox::new("root-programs-absolute-style");
    sb.file("usr/bin/ls", "old\n", 0o755).file(
        "opt/switchyard-only-in-this-root/ls",
        "#!/bin/sh\nexit 0\n",
        0o755,
    );
    let report = commit(
        &engine(
            HealthProfile::coreutils(),
            Policy {
                link_style: LinkStyle::Absolute,
                ..Policy::permissive()
            },
        ),
        &sb.plan(&[("opt/switchyard-only-in-this-root/ls", "usr/bin/ls")]),
    );
    assert!(report.actions[0].changed);
    assert_eq!(
        fs::read_link(sb.path("usr/bin/ls")).unwrap(),
        std::path::Path::new("/opt/switchyard-only-in-this-root/ls")
    );
}

/// A multicall binary (BusyBox, uutils' `coreutils`) picks its tool by the name it is run as:
/// the target's path inside the root, not the descriptor it is run from.
/// Proves: REQ-H4
#[test]
fn a_multicall_program_is_run_under_the_targets_name() {
    let sb = Sandbox::new("root-programs-multicall");
    sb.file("usr/bin/true", "old\n", 0o755)
        .file("usr/bin/false", "old\n", 0o755)
        .dir("opt/multi")
        .symlink("opt/multi/true", "busybox")
        .symlink("opt/multi/false", "busybox");
    fs::copy(host_busybox(), sb.path("opt/multi/busybox")).unwrap();
    // `true` must exit 0 and `false` 1: BusyBox under any other name fails both.
    commit(
        &engine(HealthProfile::coreutils(), Policy::permissive()),
        &sb.plan(&[
            ("opt/multi/true", "usr/bin/true"),
            ("opt/multi/false", "usr/bin/false"),
        ]),
    );
}

/// Programs and arguments a runner was asked to run.
type Ran = Arc<Mutex<Vec<(PathBuf, Vec<String>)>>>;

/// A runner standing for one that enters the root: it records what it runs, which all exits 0.
struct Recording(Ran);

impl ProgramRunner for Recording {
    fn run(&self, program: &SafePath, args: &[String], _limit: Duration) -> ProgramRun {
        let mut ran = self.0.lock().unwrap_or_else(|p| p.into_inner());
        ran.push((program.rel().to_owned(), args.to_vec()));
        ProgramRun {
            outcome: Outcome::Exited(0),
            output_tail: Vec::new(),
        }
    }
}

/// The rescue toolset is run the way the caller runs its health checks: a BusyBox whose
/// interpreter only the root has cannot start on the host, and passes through a runner that
/// enters the root, given in the policy or to the engine.
/// Proves: REQ-H4
#[test]
fn the_rescue_probe_runs_through_the_given_runner() {
    let sb = Sandbox::new("root-programs-rescue-runner");
    sb.file(
        "usr/bin/busybox",
        "#!/usr/lib/only-in-this-root/sh\nexit 0\n",
        0o755,
    )
    .file("usr/bin/ls", "old\n", 0o755)
    .file("opt/new/ls", "#!/bin/sh\nexit 0\n", 0o755);
    let plan = sb.plan(&[("opt/new/ls", "usr/bin/ls")]);
    let policy = Policy {
        require_rescue: true,
        ..Policy::permissive()
    };

    let err = Switchyard::new(policy.clone())
        .apply(&plan, ApplyMode::Commit, &mut MemorySink::default())
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Rescue, "{err}");
    assert!(
        err.to_string()
            .contains("`usr/bin/busybox --help` cannot be started"),
        "{err}"
    );

    let ran: Ran = Arc::default();
    let in_policy = Switchyard::new(Policy {
        rescue: policy
            .rescue
            .clone()
            .with_runner(Recording(Arc::clone(&ran))),
        ..policy.clone()
    });
    commit(&in_policy, &plan);
    roll_back(&in_policy, &plan);
    commit(
        &Switchyard::new(policy).with_rescue_runner(Recording(Arc::clone(&ran))),
        &plan,
    );
    let probe = (PathBuf::from("usr/bin/busybox"), vec!["--help".to_owned()]);
    assert_eq!(*ran.lock().unwrap(), vec![probe.clone(), probe]);
}
