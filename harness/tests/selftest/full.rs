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
