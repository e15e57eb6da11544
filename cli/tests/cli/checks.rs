//! Where health checks run: inside the root (its own shell, files, /proc and /dev, released
//! after) or on the host.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use crate::support::{Run, Tree};

/// Copies the host's `program` into the tree as `rel`, with the libraries it needs at their
/// own paths, so it runs inside the root.
fn copy_with_libraries(tree: &Tree, program: &str, rel: &str) {
    fs::remove_file(tree.path(rel)).ok();
    fs::create_dir_all(tree.path(rel).parent().unwrap()).unwrap();
    fs::copy(program, tree.path(rel)).unwrap();
    let ldd = Command::new("ldd").arg(program).output().unwrap();
    assert!(ldd.status.success(), "ldd {program} failed");
    for line in String::from_utf8(ldd.stdout).unwrap().lines() {
        let Some(lib) = line.split_whitespace().find(|word| word.starts_with('/')) else {
            continue;
        };
        let inside = tree.path(lib.trim_start_matches('/'));
        fs::create_dir_all(inside.parent().unwrap()).unwrap();
        fs::copy(lib, &inside).unwrap();
    }
}

/// A tree that is a small system of its own: BusyBox as `/bin/sh` with the libraries it needs
/// copied in, merged /usr, mount points, and a file only this root has.
fn system(name: &str) -> Tree {
    let tree = Tree::new(name);
    copy_with_libraries(&tree, "/bin/busybox", "usr/bin/busybox");
    symlink("busybox", tree.path("usr/bin/sh")).unwrap();
    symlink("usr/bin", tree.path("bin")).unwrap();
    for dir in ["proc", "dev", "sys"] {
        fs::create_dir_all(tree.path(dir)).unwrap();
    }
    tree.file("etc/only-in-this-root", "")
        .file("usr/bin/probe", "#!/bin/sh\necho old\n")
        .file(
            "opt/new/probe",
            "#!/bin/sh\n[ -e /etc/only-in-this-root ] && [ -e /proc/self/status ] \
             && [ -c /dev/null ] && [ -d /sys/kernel ] || exit 3\n",
        );
    fs::write(
        tree.dir.join("plan.yaml"),
        "links:\n  - { source: opt/new/probe, target: usr/bin/probe }\n\
         health:\n  usr/bin/probe: { expect: { exit: [0] } }\n",
    )
    .unwrap();
    tree
}

fn apply(tree: &Tree, checks: &str) -> Run {
    let plan = tree.dir.join("plan.yaml");
    tree.run(&[
        "--checks",
        checks,
        "apply",
        "--commit",
        "--plan",
        plan.to_str().unwrap(),
    ])
}

fn mounts_under(root: &Path) -> Vec<String> {
    let root = fs::canonicalize(root).unwrap();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(root.to_str().unwrap()))
        .map(str::to_owned)
        .collect()
}

#[test]
fn checks_inside_the_root_see_its_files_proc_dev_and_sys_and_leave_no_mount() {
    let tree = system("checks-in-root");
    apply(&tree, "auto").expect(0);
    assert!(tree.is_link("usr/bin/probe"));
    assert_eq!(mounts_under(&tree.root), Vec::<String>::new());
    tree.run(&["rollback", "--all"]).expect(0);
    apply(&tree, "root").expect(0);
    assert_eq!(mounts_under(&tree.root), Vec::<String>::new());
}

#[test]
fn checks_on_the_host_do_not_see_the_root() {
    let tree = system("checks-on-host");
    let run = apply(&tree, "host").expect(80);
    assert!(run.stderr().contains("status 3"), "{}", run.stderr());
    assert!(!tree.is_link("usr/bin/probe"));
}

/// A check inside the root may not write the host's /sys, nor reach the host's devices: /sys is
/// a fresh read-only sysfs, /dev a few character devices on a tmpfs of the child's own.
#[test]
fn checks_inside_the_root_see_a_read_only_sys_and_a_minimal_dev() {
    let tree = system("checks-sys-dev");
    tree.file(
        "opt/new/probe",
        "#!/bin/sh\n\
         busybox grep -q '^sysfs /sys sysfs ro,' /proc/mounts || exit 4\n\
         [ \"$(busybox ls /dev | busybox tr '\\n' ' ')\" = \
           'fd full null random stderr stdin stdout tty urandom zero ' ] || exit 5\n\
         [ -c /dev/null ] && [ -c /dev/urandom ] && [ -d /dev/fd/ ] || exit 6\n\
         echo ok > /dev/null || exit 7\n",
    );
    let run = apply(&tree, "root");
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(tree.is_link("usr/bin/probe"));
    assert_eq!(mounts_under(&tree.root), Vec::<String>::new());
    assert!(
        fs::read_dir(tree.path("dev")).unwrap().next().is_none(),
        "the root's own /dev was written"
    );
}

/// A root without a shell is no system to enter: its checks run on the host, but the program
/// is still the root's own. Its `usr/bin/true` is broken, and the new tool is an absolute link
/// to it; the host's `/usr/bin/true` would pass.
/// Proves: REQ-H4
#[test]
fn checks_of_a_bare_root_run_its_own_program_behind_an_absolute_link() {
    let tree = Tree::new("checks-bare-absolute");
    tree.file("usr/bin/true", "#!/bin/sh\nexit 3\n")
        .file("usr/bin/tool", "#!/bin/sh\necho old tool\n");
    symlink("/usr/bin/true", tree.path("opt/new/tool")).unwrap();
    fs::write(
        tree.dir.join("plan.yaml"),
        "links:\n  - { source: opt/new/tool, target: usr/bin/tool }\n\
         health:\n  usr/bin/tool: { args: [], expect: { exit: [0] } }\n",
    )
    .unwrap();
    let before = tree.snapshot();
    for checks in ["auto", "host"] {
        let run = apply(&tree, checks).expect(80);
        assert!(
            run.stderr().contains("status 3"),
            "{checks}: {}",
            run.stderr()
        );
        assert_eq!(tree.snapshot(), before, "{checks}: not rolled back");
    }
}

/// A root whose rescue tools are scripts for an interpreter only the root has: they run inside
/// the root (`chroot root /usr/bin/cp --version` works), so the root passes where a check on
/// the host cannot even start them.
/// Proves: REQ-H4
#[test]
fn the_rescue_toolset_is_run_inside_the_root_with_its_own_interpreter() {
    let tree = Tree::new("checks-rescue-in-root");
    fs::remove_file(tree.path("usr/bin/busybox")).unwrap();
    copy_with_libraries(&tree, "/bin/dash", "usr/bin/rootsh");
    symlink("rootsh", tree.path("usr/bin/sh")).unwrap();
    for tool in ["cp", "mv", "ln", "rm", "cat"] {
        tree.file(&format!("usr/bin/{tool}"), "#!/usr/bin/rootsh\nexit 0\n");
    }
    tree.file("usr/bin/probe", "#!/usr/bin/rootsh\necho old\n")
        .file("opt/new/probe", "#!/usr/bin/rootsh\nexit 0\n");
    let link = ["apply", "--commit", "--link", "opt/new/probe=usr/bin/probe"];
    let run = tree
        .run(&[&["--checks", "host"][..], &link].concat())
        .expect(100);
    assert!(
        run.stderr().contains("usr/bin/cp --version"),
        "{}",
        run.stderr()
    );
    assert!(!tree.is_link("usr/bin/probe"));
    tree.run(&link).expect(0);
    assert!(tree.is_link("usr/bin/probe"));
    assert_eq!(mounts_under(&tree.root), Vec::<String>::new());
}

/// A failed check says what the program printed, on the terminal and in the audit trail, in
/// both places a check runs.
#[test]
fn a_failed_check_reports_what_the_program_printed() {
    let bare = Tree::new("checks-output-bare");
    let system = system("checks-output-system");
    for (tree, checks) in [(&bare, "host"), (&system, "root")] {
        tree.file(
            "opt/new/badls",
            "#!/bin/sh\necho 'ls: error while loading shared libraries: libfoo.so.1' >&2\nexit 127\n",
        );
        let facts = tree.dir.join("facts.jsonl");
        let run = tree
            .run(&[
                "--checks",
                checks,
                "--facts",
                facts.to_str().unwrap(),
                "apply",
                "--commit",
                "--link",
                "opt/new/badls=usr/bin/ls",
            ])
            .expect(80);
        assert!(
            run.stderr().contains("libfoo.so.1"),
            "{checks}: {}",
            run.stderr()
        );
        let failed: Vec<serde_json::Value> = fs::read_to_string(&facts)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .filter(|fact: &serde_json::Value| fact.get("check_status").is_some())
            .collect();
        assert_eq!(failed.len(), 1, "{checks}: {failed:?}");
        assert_eq!(failed[0]["check_status"], 127, "{checks}");
        assert_eq!(
            failed[0]["check_output"],
            serde_json::json!(["ls: error while loading shared libraries: libfoo.so.1"]),
            "{checks}"
        );
    }
}
