//! The JSONL file sink: appends one fact per line and makes them durable on sync.

use std::fs;

use switchyard::{ApplyMode, Fact, JsonlSink, MemorySink};

use crate::support::{Sandbox, permissive};

/// Proves: REQ-E12
#[test]
fn the_jsonl_sink_appends_every_fact_as_one_line() {
    let sb = Sandbox::new("jsonl-sink");
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let path = sb.dir.join("facts.jsonl");
    let engine = permissive();
    let mut memory = MemorySink::default();
    engine.apply(&plan, ApplyMode::DryRun, &mut memory).unwrap();
    // Two operations append to the same file.
    for _ in 0..2 {
        let mut file = JsonlSink::append(&path).unwrap();
        engine.apply(&plan, ApplyMode::DryRun, &mut file).unwrap();
    }
    let text = fs::read_to_string(&path).unwrap();
    let read: Vec<Fact> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(read.len(), 2 * memory.facts.len());
    assert_eq!(read[..memory.facts.len()], memory.facts[..]);
}
