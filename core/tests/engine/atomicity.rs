//! REQ-A2: the target is present at every instant of a swap and of a rollback.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use switchyard::{ApplyMode, MemorySink, RollbackOptions};

use crate::support::{Sandbox, permissive};

/// Proves: REQ-A2
#[test]
fn a_reader_never_sees_the_target_missing_during_1000_cycles() {
    let sb = Sandbox::new("atomicity");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let engine = permissive();
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let target = sb.path("usr/bin/ls");

    let stop = Arc::new(AtomicBool::new(false));
    let looks = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (stop, looks, target) = (Arc::clone(&stop), Arc::clone(&looks), target.clone());
        thread::spawn(move || {
            let mut missing = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if fs::symlink_metadata(&target).is_err() {
                    missing += 1;
                }
                looks.fetch_add(1, Ordering::Relaxed);
            }
            missing
        })
    };

    for cycle in 0..1000 {
        engine
            .apply(&plan, ApplyMode::Commit, &mut MemorySink::default())
            .unwrap_or_else(|e| panic!("apply {cycle}: {e}"));
        engine
            .rollback(
                &plan,
                RollbackOptions::default(),
                &mut MemorySink::default(),
            )
            .unwrap_or_else(|e| panic!("rollback {cycle}: {e}"));
        // Old generations would pile up; keep the directory small as a real user would.
        if cycle % 100 == 99 {
            engine.prune(&plan, 1, &mut MemorySink::default()).unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let missing = watcher.join().unwrap();
    let looks = looks.load(Ordering::Relaxed);
    assert!(
        looks > 10_000,
        "the reader only looked {looks} times; the test proves nothing"
    );
    assert_eq!(
        missing, 0,
        "the target was missing {missing} times out of {looks} looks"
    );
    assert_eq!(fs::read(&target).unwrap(), b"GNU ls\n");
}
