//! The engine removes only files it provably made: a file of the tree that merely carries one of
//! its names is never deleted; the operation refuses and names it.

use std::fs;
use std::io;
use std::path::PathBuf;

use switchyard::{ApplyMode, ErrorId, Fact, FactSink, MemorySink, RollbackOptions, Stage};

use crate::support::{Sandbox, commit, permissive, roll_back};

fn tree(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    sb.file("usr/bin/ls", "GNU ls\n", 0o755)
        .file("opt/uutils/ls", "uutils ls\n", 0o755);
    sb
}

#[test]
fn apply_refuses_a_file_of_the_tree_under_a_sidecar_temporary_name() {
    for name in [
        ".ls.switchyard.1.json.tmp",
        ".ls.switchyard.1.tmp",
        ".ls.switchyard.1.bak",
        ".ls.switchyard.1.bak.tmp",
    ] {
        let sb = tree(&format!("foreign-apply-{name}"));
        sb.file(&format!("usr/bin/{name}"), "a user's notes\n", 0o644);
        let before = sb.snapshot();
        let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
        for mode in [ApplyMode::DryRun, ApplyMode::Commit] {
            let err = permissive()
                .apply(&plan, mode, &mut MemorySink::default())
                .unwrap_err();
            assert_eq!(err.id(), ErrorId::Policy, "{name} {mode:?}: {err}");
            assert!(err.to_string().contains(name), "{name}: {err}");
            assert_eq!(sb.snapshot(), before, "{name} {mode:?}: the tree changed");
        }
    }
}

/// A sidecar temporary left by an apply that died while writing it is the engine's: the next
/// apply replaces it.
#[test]
fn apply_replaces_its_own_stale_sidecar_temporary() {
    let sb = tree("own-stale-sidecar-temp");
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    commit(&permissive(), &plan);
    let sidecar = fs::read(sb.path("usr/bin/.ls.switchyard.1.json")).unwrap();
    permissive()
        .rollback(
            &plan,
            RollbackOptions::default(),
            &mut MemorySink::default(),
        )
        .unwrap();
    // Generation 2's sidecar, as a crash before its rename would leave it.
    let stale = String::from_utf8(sidecar)
        .unwrap()
        .replace("\"generation\": 1", "\"generation\": 2");
    fs::write(sb.path("usr/bin/.ls.switchyard.2.json.tmp"), stale).unwrap();
    commit(&permissive(), &plan);
    assert!(!sb.path("usr/bin/.ls.switchyard.2.json.tmp").exists());
    assert!(sb.path("usr/bin/.ls.switchyard.2.json").exists());
}

#[test]
fn rollback_keeps_a_file_of_the_tree_under_an_engine_name() {
    let sb = tree("foreign-rollback");
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    commit(&permissive(), &plan);
    sb.file("usr/bin/.ls.switchyard.1.tmp", "a user's notes\n", 0o644);
    let err = permissive()
        .rollback(
            &plan,
            RollbackOptions::default(),
            &mut MemorySink::default(),
        )
        .unwrap_err();
    assert!(err.to_string().contains(".ls.switchyard.1.tmp"), "{err}");
    assert_eq!(err.id(), ErrorId::Policy, "{err}");
    assert_eq!(
        fs::read(sb.path("usr/bin/.ls.switchyard.1.tmp")).unwrap(),
        b"a user's notes\n"
    );
}

/// Tidy removes a rolled-back generation's debris only when it provably is the engine's, as
/// prune does: a file of the tree under one of those names fails the tidy, named, and stays
/// with the generation's sidecar. (A file under the backup name keeps the target whole, as a
/// backup left does.)
#[test]
fn tidy_keeps_a_file_of_the_tree_under_an_engine_name() {
    for name in [
        ".ls.switchyard.1.tmp",
        ".ls.switchyard.1.bak.tmp",
        ".ls.switchyard.1.json.tmp",
        ".ls.switchyard.1.bak",
    ] {
        let sb = tree(&format!("foreign-tidy-{name}"));
        let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
        commit(&permissive(), &plan);
        roll_back(&permissive(), &plan);
        sb.file(&format!("usr/bin/{name}"), "a user's notes\n", 0o644);
        let before = sb.snapshot();
        let tidied = permissive().tidy(&plan, &mut MemorySink::default());
        match tidied {
            Ok(report) if name.ends_with(".bak") => assert_eq!(report.kept, 1, "{name}"),
            Ok(report) => panic!("{name}: tidy succeeded ({report:?})"),
            Err(err) => {
                assert_eq!(err.id(), ErrorId::Policy, "{name}: {err}");
                assert!(err.to_string().contains(name), "{name}: {err}");
            }
        }
        assert_eq!(sb.snapshot(), before, "{name}: the tree changed");
    }
}

/// A crash after an apply wrote a sidecar temporary and before it published it leaves the
/// temporary and no swap. Rolling that plan back removes it; a temporary of another plan for a
/// target of this plan stays.
#[test]
fn rollback_removes_its_own_unpublished_sidecar_and_keeps_another_plans() {
    let both = [
        ("opt/uutils/ls", "usr/bin/ls"),
        ("opt/uutils/cat", "usr/bin/cat"),
    ];
    let cat_only = [("opt/uutils/cat", "usr/bin/cat")];
    // Plan ids depend on the plan's paths only: sidecars written in one tree fit another.
    let sidecar_of = |name: &str, links: &[(&str, &str)], target: &str| {
        let sb = tree(name);
        sb.file("opt/uutils/cat", "uutils cat\n", 0o755)
            .file("usr/bin/cat", "GNU cat\n", 0o755);
        commit(&permissive(), &sb.plan(links));
        fs::read(sb.path(&format!("usr/bin/.{target}.switchyard.1.json"))).unwrap()
    };
    let ours = sidecar_of("unpublished-ours", &both, "ls");
    let theirs = sidecar_of("unpublished-theirs", &cat_only, "cat");

    let sb = tree("unpublished-sidecars");
    sb.file("opt/uutils/cat", "uutils cat\n", 0o755)
        .file("usr/bin/cat", "GNU cat\n", 0o755);
    // Generation 2 of `ls`, as if an earlier plan's generation 1 had been pruned since.
    let ours = String::from_utf8(ours)
        .unwrap()
        .replace("\"generation\": 1", "\"generation\": 2");
    fs::write(sb.path("usr/bin/.ls.switchyard.2.json.tmp"), ours).unwrap();
    fs::write(sb.path("usr/bin/.cat.switchyard.1.json.tmp"), &theirs).unwrap();
    let report = permissive()
        .rollback(
            &sb.plan(&both),
            RollbackOptions::default(),
            &mut MemorySink::default(),
        )
        .unwrap();
    assert_eq!((report.restored, report.unchanged), (0, 2));
    assert!(!sb.path("usr/bin/.ls.switchyard.2.json.tmp").exists());
    assert_eq!(
        fs::read(sb.path("usr/bin/.cat.switchyard.1.json.tmp")).unwrap(),
        theirs
    );
    assert_eq!(fs::read(sb.path("usr/bin/ls")).unwrap(), b"GNU ls\n");
}

/// A sink that, once the apply reports its first attempt (preflight is over, no sidecar is
/// written yet), puts files of someone else's at `paths`: another process racing the apply.
#[derive(Debug)]
struct Intruder {
    paths: Vec<PathBuf>,
    done: bool,
}

impl FactSink for Intruder {
    fn record(&mut self, fact: &Fact) -> io::Result<()> {
        if fact.stage == Stage::ApplyAttempt && !self.done {
            self.done = true;
            for path in &self.paths {
                fs::write(path, "a user's notes\n")?;
            }
        }
        Ok(())
    }
}

/// A file put under the sidecar's name after preflight makes publishing the sidecar fail; the
/// apply gives up its own record and leaves that file (and one under the sidecar's temporary
/// name, which the apply did not use), and the target, alone.
#[test]
fn a_file_put_under_the_sidecar_name_during_the_apply_is_kept() {
    let sb = tree("foreign-sidecar-race");
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let names = [".ls.switchyard.1.json", ".ls.switchyard.1.json.tmp"];
    let before = sb.snapshot();
    let mut intruder = Intruder {
        paths: names.map(|n| sb.path(&format!("usr/bin/{n}"))).to_vec(),
        done: false,
    };
    let err = permissive()
        .apply(&plan, ApplyMode::Commit, &mut intruder)
        .unwrap_err();
    assert!(intruder.done, "the apply never reported an attempt");
    assert_eq!(err.id(), ErrorId::AtomicSwap, "{err}");
    let mut after = sb.snapshot();
    for name in names {
        let file = after.remove(&format!("usr/bin/{name}"));
        assert_eq!(
            file.and_then(|f| f.content).as_deref(),
            Some(&b"a user's notes\n"[..]),
            "{name}"
        );
    }
    assert_eq!(after, before);
}

/// A file put under the backup name after preflight makes moving the prior object there fail:
/// the error names that name (not the target), the exchange is undone, and the file stays.
#[test]
fn a_file_put_under_the_backup_name_during_the_apply_is_named() {
    let sb = tree("foreign-backup-race");
    let plan = sb.plan(&[("opt/uutils/ls", "usr/bin/ls")]);
    let backup = sb.path("usr/bin/.ls.switchyard.1.bak");
    let before = sb.snapshot();
    let mut intruder = Intruder {
        paths: vec![backup.clone()],
        done: false,
    };
    let err = permissive()
        .apply(&plan, ApplyMode::Commit, &mut intruder)
        .unwrap_err();
    assert_eq!(err.id(), ErrorId::AtomicSwap, "{err}");
    assert!(
        err.to_string()
            .contains("its backup name `usr/bin/.ls.switchyard.1.bak`"),
        "{err}"
    );
    assert_eq!(fs::read(&backup).unwrap(), b"a user's notes\n");
    let mut after = sb.snapshot();
    after.remove("usr/bin/.ls.switchyard.1.bak");
    assert_eq!(after, before);
}
