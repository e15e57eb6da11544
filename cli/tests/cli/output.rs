//! What the command prints when things go wrong: a JSON error object with --json, and a quiet
//! exit when whoever reads its output stops reading.

use std::process::Stdio;

use crate::support::Tree;

/// `switchyard ... | head -1`: the reader is gone before the output is written.
///
/// The pipe's reading end is closed before the command starts, but a child that another test
/// thread forks at that moment holds a copy of it until it execs: so the pipe is made smaller
/// than the output, and the command's write waits for that copy to go, then fails as it must.
#[test]
fn a_closed_stdout_is_a_quiet_exit_141() {
    let tree = Tree::new("output-closed-pipe");
    let mut links = Vec::new();
    for i in 0..80 {
        tree.file(&format!("usr/bin/tool{i:02}"), "#!/bin/sh\n")
            .file(&format!("opt/new/tool{i:02}"), "#!/bin/sh\n");
        links.push(format!("opt/new/tool{i:02}=usr/bin/tool{i:02}"));
    }
    let mut args = vec!["--policy", "permissive", "apply", "--commit"];
    for link in &links {
        args.extend(["--link", link]);
    }
    tree.run(&args).expect(0);
    for args in [&["--json", "status"][..], &["status"]] {
        let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        rustix::pipe::fcntl_setpipe_size(&writer, 4096).unwrap();
        drop(reader);
        let output = tree
            .command(args)
            .stdout(Stdio::from(writer))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(141), "{args:?}: {output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "",
            "{args:?} complained"
        );
    }
}

#[test]
fn with_json_a_failure_is_a_json_error_object_on_stdout() {
    let tree = Tree::new("output-json-error");
    let run = tree.run(&["--json", "rollback", "ffffffff"]).expect(10);
    let error = &run.json()["error"];
    assert_eq!(error["id"], "E_POLICY", "{error}");
    assert_eq!(error["exit_code"], 10, "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("ffffffff"),
        "{error}"
    );
    assert!(run.stderr().contains("ffffffff"), "{}", run.stderr());

    let run = tree
        .run(&["--json", "apply", "--link", "opt/new/ls"])
        .expect(2);
    assert_eq!(run.json()["error"]["id"], "E_USAGE");
    assert_eq!(run.json()["error"]["exit_code"], 2);
}

/// A rollback of several plans that stops part way reports, in one document, what it did and
/// where it stopped.
#[test]
fn with_json_a_rollback_that_stops_part_way_reports_what_it_did_and_the_error() {
    let tree = Tree::new("output-json-partial");
    let older = tree
        .run(&[
            "--json",
            "apply",
            "--commit",
            "--link",
            "opt/new/ls=usr/bin/ls",
        ])
        .expect(0)
        .json()["plan_id"]
        .clone();
    let newer = tree
        .run(&[
            "--json",
            "apply",
            "--commit",
            "--link",
            "opt/new/cat=usr/bin/cat",
        ])
        .expect(0)
        .json()["plan_id"]
        .clone();
    std::fs::remove_file(tree.path("usr/bin/ls")).unwrap();
    tree.file("usr/bin/ls", "reinstalled\n");
    let run = tree.run(&["--json", "rollback", "--all"]).expect(90);
    let report = run.json();
    assert_eq!(report["rolled_back"][0]["plan_id"], newer, "{report}");
    assert_eq!(report["rolled_back"][0]["restored"], 1, "{report}");
    assert_eq!(report["error"]["id"], "E_DRIFT", "{report}");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(older.as_str().unwrap()) && message.contains("usr/bin/ls"),
        "{message}"
    );
}
