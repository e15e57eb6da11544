//! Health checks of real tools: the coreutils profile against the machine's GNU coreutils,
//! and broken binaries that must fail it.

use std::fs;
use std::path::Path;
use std::time::Duration;

use switchyard::{
    ApplyMode, CommandSmoke, ErrorId, Expect, HealthCheck, HealthProfile, MemorySink, Policy,
    SmokeRunner, Switchyard,
};

use crate::support::{Sandbox, commit};

/// The GNU tools whose `--version` alone does not tell a working binary.
const ODD_TOOLS: [&str; 5] = ["true", "false", "yes", "test", "ls"];

/// A tree whose `usr/bin` targets are links-to-be to copies of the machine's own coreutils.
fn coreutils_tree(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    for tool in ODD_TOOLS {
        let host = Path::new("/usr/bin").join(tool);
        assert!(
            host.is_file(),
            "{} is missing: install the Debian package `coreutils`",
            host.display()
        );
        sb.file(&format!("usr/bin/{tool}"), "old\n", 0o755);
        fs::create_dir_all(sb.path("opt/gnu")).unwrap();
        fs::copy(&host, sb.path(&format!("opt/gnu/{tool}"))).unwrap();
    }
    sb
}

fn links(sb: &Sandbox) -> switchyard::Plan {
    let pairs: Vec<(String, String)> = ODD_TOOLS
        .iter()
        .map(|t| (format!("opt/gnu/{t}"), format!("usr/bin/{t}")))
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    sb.plan(&refs)
}

fn engine(smoke: impl SmokeRunner + 'static) -> Switchyard {
    let policy = Policy {
        require_smoke: true,
        ..Policy::permissive()
    };
    Switchyard::new(policy).with_smoke(smoke)
}

#[test]
fn the_coreutils_profile_passes_true_false_yes_and_test() {
    let sb = coreutils_tree("health-coreutils");
    let report = commit(&engine(HealthProfile::coreutils()), &links(&sb));
    assert!(report.actions.iter().all(|a| a.changed));
}

#[test]
fn running_every_target_with_version_and_needing_zero_fails_false() {
    let sb = coreutils_tree("health-version-only");
    let err = engine(CommandSmoke::default())
        .apply(&links(&sb), ApplyMode::Commit, &mut MemorySink::default())
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Smoke, "{err}");
    assert!(err.to_string().contains("usr/bin/false"), "{err}");
}

/// Commits one link to `source_content` under the coreutils profile, which must fail.
fn broken(name: &str, target: &str, source_content: &str) -> String {
    let sb = Sandbox::new(name);
    sb.file(&format!("usr/bin/{target}"), "old\n", 0o755).file(
        &format!("opt/broken/{target}"),
        source_content,
        0o755,
    );
    let before = sb.snapshot();
    let plan = sb.plan(&[(
        &format!("opt/broken/{target}"),
        &format!("usr/bin/{target}"),
    )]);
    let err = engine(HealthProfile::coreutils())
        .apply(&plan, ApplyMode::Commit, &mut MemorySink::default())
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Smoke, "{err}");
    assert_eq!(
        sb.snapshot(),
        before,
        "the failed check was not rolled back"
    );
    err.to_string()
}

#[test]
fn a_target_that_cannot_be_executed_fails() {
    let message = broken("health-cannot-exec", "ls", "\u{7f}ELF not really\n");
    assert!(message.contains("cannot be started"), "{message}");
}

#[test]
fn a_target_that_dies_on_a_signal_fails() {
    let message = broken("health-signal", "ls", "#!/bin/sh\nkill -SEGV $$\n");
    assert!(message.contains("signal 11"), "{message}");
}

#[test]
fn a_missing_loader_or_library_fails() {
    let message = broken("health-127", "ls", "#!/bin/sh\nexit 127\n");
    assert!(message.contains("status 127"), "{message}");
}

#[test]
fn yes_that_stops_on_its_own_fails_and_false_that_exits_zero_fails() {
    let message = broken("health-yes-stops", "yes", "#!/bin/sh\nexit 0\n");
    assert!(message.contains("keep running"), "{message}");
    let message = broken("health-false-zero", "false", "#!/bin/sh\nexit 0\n");
    assert!(message.contains("exit with status 1"), "{message}");
}

#[test]
fn a_per_target_check_overrides_the_profile() {
    let sb = Sandbox::new("health-override");
    sb.file("usr/bin/tool", "old\n", 0o755).file(
        "opt/new/tool",
        "#!/bin/sh\n[ \"$1\" = ping ] && exit 7\nexit 0\n",
        0o755,
    );
    let plan = sb.plan(&[("opt/new/tool", "usr/bin/tool")]);
    let mut profile = HealthProfile::coreutils();
    profile.timeout = Duration::from_secs(5);
    profile.by_target.insert(
        "usr/bin/tool".into(),
        HealthCheck::new(&["ping"], Expect::Exit(vec![7])),
    );
    commit(&engine(profile), &plan);
}

/// What a broken program prints (the loader naming a missing library) is the diagnosis: the
/// error and the failure fact keep it.
#[test]
fn a_failed_check_keeps_what_the_program_printed() {
    let sb = Sandbox::new("health-output-kept");
    sb.file("usr/bin/ls", "old\n", 0o755).file(
        "opt/broken/ls",
        "#!/bin/sh\necho \"ls: error while loading shared libraries: libfoo.so.1\" >&2\nexit 127\n",
        0o755,
    );
    let mut facts = MemorySink::default();
    let err = engine(HealthProfile::coreutils())
        .apply(
            &sb.plan(&[("opt/broken/ls", "usr/bin/ls")]),
            ApplyMode::Commit,
            &mut facts,
        )
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Smoke, "{err}");
    assert!(err.to_string().contains("libfoo.so.1"), "{err}");
    let failed = facts
        .facts
        .iter()
        .find(|f| f.check_status.is_some())
        .expect("a failure fact of the checked target");
    assert_eq!(failed.check_status, Some(127));
    assert_eq!(
        failed.check_output.as_deref(),
        Some(&["ls: error while loading shared libraries: libfoo.so.1".to_owned()][..])
    );
}
