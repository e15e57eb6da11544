//! Where health checks run: inside the root (its own shell, files, /proc and /dev, released
//! after) or on the host.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use crate::support::Tree;

/// A tree that is a small system of its own: BusyBox as `/bin/sh` with the libraries it needs
/// copied in, merged /usr, mount points, and a file only this root has.
fn system(name: &str) -> Tree {
    let tree = Tree::new(name);
    fs::remove_file(tree.path("usr/bin/busybox")).unwrap();
    fs::copy("/bin/busybox", tree.path("usr/bin/busybox")).unwrap();
    symlink("busybox", tree.path("usr/bin/sh")).unwrap();
    symlink("usr/bin", tree.path("bin")).unwrap();
    let ldd = Command::new("ldd").arg("/bin/busybox").output().unwrap();
    assert!(ldd.status.success(), "ldd /bin/busybox failed");
    for line in String::from_utf8(ldd.stdout).unwrap().lines() {
        let Some(lib) = line.split_whitespace().find(|word| word.starts_with('/')) else {
            continue;
        };
        let inside = tree.path(lib.trim_start_matches('/'));
        fs::create_dir_all(inside.parent().unwrap()).unwrap();
        fs::copy(lib, &inside).unwrap();
    }
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

fn apply(tree: &Tree, checks: &str) -> crate::support::Run {
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
