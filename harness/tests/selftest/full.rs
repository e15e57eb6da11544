//! A host work directory that runs out of room is the machine's fault, said as such (exit 3),
//! not an engine error or a harness failure.

use rustix::mount::{MountFlags, UnmountFlags};

use crate::support::{Workspace, run};

#[test]
fn a_full_host_work_dir_is_reported_as_such() {
    let ws = Workspace::new("full-work-dir");
    ws.repo_scenario("swap-absent");
    // Room for the run's own files, not for a trial's image: mkfs.btrfs and mkfs.xfs cannot zero
    // their devices, and on ext4 the engine's first sync fails. One trial at a time, so that none
    // fails only because another took the room.
    let small = ws.dir.join("small");
    std::fs::create_dir(&small).unwrap();
    rustix::mount::mount(
        "tmpfs",
        &small,
        "tmpfs",
        MountFlags::empty(),
        c"size=128k,mode=0700",
    )
    .unwrap();
    let ran = run(ws.fsmatrix_in(&small, &["run"], &["--fs", "ext4,btrfs,xfs", "--jobs", "1"]));
    ws.assert_no_leaks_but(&small);
    rustix::mount::unmount(&small, UnmountFlags::empty()).unwrap();
    assert_eq!(ran.code, 3, "{}", ran.all());
    assert_eq!(
        ran.stdout.matches("the host's work dir is full").count(),
        3,
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("0 passed, 3 failed, 0 skipped"),
        "{}",
        ran.stdout
    );
}

/// A trial that fails for a reason of its own is reported as that failure, even when the work
/// dir has less room than an image's nominal size: images are sparse, and this one never needs
/// more than the room there is.
#[test]
fn a_real_failure_with_little_but_enough_room_is_not_blamed_on_the_host() {
    let ws = Workspace::new("little-room");
    ws.scenario(
        "wrong-check",
        r##"description: A check that cannot hold, so the trial fails for a reason of its own.
filesystems: [ext4]
why: one filesystem with an image is enough to show the host is not blamed.
proves: []
policy: permissive
tree:
  usr/bin/ls:    { file: "GNU ls\n", mode: "0755" }
  opt/uutils/ls: { file: "#!/bin/sh\necho uutils ls\n", mode: "0755" }
steps:
  - apply: { link: [ { source: opt/uutils/ls, target: usr/bin/ls } ] }
  - check: { usr/bin/ls: { file: "GNU ls\n" } }
"##,
    );
    // Less than the 64 MiB of an ext4 image, far more than the trial writes into it.
    let small = ws.dir.join("small");
    std::fs::create_dir(&small).unwrap();
    rustix::mount::mount(
        "tmpfs",
        &small,
        "tmpfs",
        MountFlags::empty(),
        c"size=56m,mode=0700",
    )
    .unwrap();
    let ran = run(ws.fsmatrix_in(&small, &["run"], &["--jobs", "1"]));
    ws.assert_no_leaks_but(&small);
    rustix::mount::unmount(&small, UnmountFlags::empty()).unwrap();
    assert_eq!(ran.code, 1, "{}", ran.all());
    assert!(!ran.stdout.contains("work dir is full"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("[expectation]") && ran.stdout.contains("usr/bin/ls"),
        "{}",
        ran.stdout
    );
}
