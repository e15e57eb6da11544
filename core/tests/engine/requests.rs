//! Bad requests are refused with `E_POLICY` before anything changes, with messages that name
//! the right path.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use switchyard::{ApplyMode, ErrorId, LinkRequest, MemorySink, Plan, SafePath, Switchyard};

use crate::support::{Sandbox, permissive};

/// Commits `links` with `engine`, which must fail with `E_POLICY` and leave the tree as it was.
fn assert_refused(sb: &Sandbox, engine: &Switchyard, links: &[(&str, &str)]) -> String {
    let before = sb.snapshot();
    let err = engine
        .apply(
            &sb.plan(links),
            ApplyMode::Commit,
            &mut MemorySink::default(),
        )
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::Policy, "{err}");
    assert_eq!(sb.snapshot(), before, "a refused request changed the tree");
    err.to_string()
}

#[test]
fn a_link_to_itself_is_refused() {
    let sb = Sandbox::new("requests-self-link");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755);
    // Refused as the plan is made, before any engine sees it.
    let err = Plan::links([LinkRequest {
        source: sb.safe("usr/bin/ls"),
        target: sb.safe("./usr/bin/ls"),
    }])
    .unwrap_err();
    assert_eq!(err.id(), ErrorId::Policy, "{err}");
    assert!(err.to_string().contains("usr/bin/ls"), "{err}");
}

#[test]
fn a_source_that_is_the_target_under_another_name_is_refused() {
    let sb = Sandbox::new("requests-alias-link");
    // Merged /usr: `bin/ls` and `usr/bin/ls` are one entry.
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .symlink("bin", "usr/bin");
    assert_refused(&sb, &permissive(), &[("bin/ls", "usr/bin/ls")]);
}

#[test]
fn a_source_that_leads_back_to_the_target_is_refused() {
    let sb = Sandbox::new("requests-source-via-target");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .symlink("opt/ls", "/usr/bin/ls");
    assert_refused(&sb, &permissive(), &[("opt/ls", "usr/bin/ls")]);
}

#[test]
fn a_self_looping_source_is_refused() {
    let sb = Sandbox::new("requests-looping-source");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .symlink("opt/loop", "loop");
    let message = assert_refused(&sb, &permissive(), &[("opt/loop", "usr/bin/ls")]);
    assert!(message.contains("opt/loop"), "{message}");
    assert!(message.contains("is a symlink loop"), "{message}");
}

/// A source in the target's own directory (`ls` -> `ls.uutils`) is a source like any other.
#[test]
fn a_source_beside_its_target_is_linked() {
    let sb = Sandbox::new("requests-source-beside");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("usr/bin/ls.uutils", "uutils ls\n", 0o755);
    permissive()
        .apply(
            &sb.plan(&[("usr/bin/ls.uutils", "usr/bin/ls")]),
            ApplyMode::Commit,
            &mut MemorySink::default(),
        )
        .unwrap();
    assert_eq!(
        std::fs::read_link(sb.path("usr/bin/ls")).unwrap(),
        std::path::Path::new("ls.uutils")
    );
}

/// A source the kernel cannot look up for another reason (here a name longer than any
/// filesystem allows) is reported as the lookup error it is, not as a loop or a missing file.
#[test]
fn a_source_that_cannot_be_looked_up_is_an_inspection_error() {
    let sb = Sandbox::new("requests-source-too-long");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let source = format!("opt/{}", "n".repeat(300));
    let err = permissive()
        .apply(
            &sb.plan(&[(&source, "usr/bin/ls")]),
            ApplyMode::Commit,
            &mut MemorySink::default(),
        )
        .unwrap_err();
    let message = err.to_string();
    assert_ne!(err.id(), ErrorId::Policy, "{message}");
    assert!(!message.contains("symlink loop"), "{message}");
}

/// Each way a source can be unusable is told apart: the admin fixes each differently.
#[test]
fn a_missing_or_non_file_source_is_refused_saying_which() {
    let sb = Sandbox::new("requests-bad-source");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/README", "docs\n", 0o644)
        .symlink("opt/dangling", "gone");
    let engine = permissive();
    for (source, problem) in [
        ("opt/uutils/ls", "does not exist"),
        ("opt/dangling", "does not exist"),
        ("opt/uutils", "is not a regular file"),
    ] {
        let message = assert_refused(&sb, &engine, &[(source, "usr/bin/ls")]);
        assert!(message.contains(source), "{message}");
        assert!(message.contains(problem), "{source}: {message}");
    }
}

#[test]
fn a_nul_in_a_path_is_refused() {
    let with_nul = OsStr::from_bytes(b"usr/bin/l\0s");
    let err = SafePath::new("/srv/image", with_nul).unwrap_err();
    assert_eq!(err.id(), ErrorId::Policy, "{err}");
    let err = SafePath::new(OsStr::from_bytes(b"/srv/im\0age"), "usr/bin/ls").unwrap_err();
    assert_eq!(err.id(), ErrorId::Policy, "{err}");
}

#[test]
fn a_stale_backup_in_the_way_is_named() {
    let sb = Sandbox::new("requests-stale-backup");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("usr/bin/.ls.switchyard.1.bak", "someone's file\n", 0o644)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let message = assert_refused(&sb, &permissive(), &[("opt/uutils/ls", "usr/bin/ls")]);
    assert!(
        message.contains("usr/bin/.ls.switchyard.1.bak"),
        "the message does not name the file in the way: {message}"
    );
}
