//! The engine is shared between threads: a smoke runner or a lock never makes it thread-bound.

use std::sync::Arc;
use std::thread;

use switchyard::{ApplyMode, CommandSmoke, MemorySink};

use crate::support::{Sandbox, permissive};

/// Proves: REQ-C8
#[test]
fn one_engine_serves_dry_runs_from_several_threads() {
    let sb = Sandbox::new("threads");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let engine = Arc::new(
        permissive()
            .with_lock(sb.lock(std::time::Duration::from_secs(1)))
            .with_smoke(CommandSmoke::default()),
    );
    let plan = Arc::new(sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (engine, plan) = (Arc::clone(&engine), Arc::clone(&plan));
            thread::spawn(move || {
                engine
                    .apply(&plan, ApplyMode::DryRun, &mut MemorySink::default())
                    .map(|report| report.actions[0].changed)
            })
        })
        .collect();
    for worker in workers {
        assert!(
            worker.join().unwrap().unwrap(),
            "the dry run saw nothing to change"
        );
    }
}
