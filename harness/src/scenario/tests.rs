//! Scenario files on disk, through `load_file` and `load_dir`: one well-formed file with every
//! form, and one malformed file per kind of mistake, each at its exact line and column.

use std::collections::BTreeMap;
use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use switchyard::ErrorId;
use switchyard::crash::{CrashPoint, Phase};

use super::*;
use crate::fs_kind::FsKind;

/// A fresh directory for one test, removed at the start of the next run (not at the end of this
/// one), so that a failure can be inspected. One tree per checkout, so that two checkouts can
/// run their tests at once.
fn test_dir(test: &str) -> PathBuf {
    let mut checkout = DefaultHasher::new();
    env!("CARGO_MANIFEST_DIR").hash(&mut checkout);
    let dir = std::env::temp_dir()
        .join(format!(
            "switchyard-harness-scenario-tests-{:016x}",
            checkout.finish()
        ))
        .join(test);
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot clear {}: {e}", dir.display()),
    }
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, file: &str, text: &str) -> PathBuf {
    let path = dir.join(file);
    fs::write(&path, text).unwrap();
    path
}

fn load(test: &str, text: &str) -> Result<Scenario, ScenarioError> {
    load_file(&write(&test_dir(test), "case.yaml", text))
}

/// Loading `text` fails at `line`:`column` with a message containing `fragment`.
#[track_caller]
fn assert_fails(test: &str, text: &str, line: u64, column: u64, fragment: &str) {
    let error = match load(test, text) {
        Ok(scenario) => panic!("{test}: loaded {scenario:#?}"),
        Err(error) => error,
    };
    assert!(
        error.file().ends_with("case.yaml"),
        "{test}: names the wrong file: {error}"
    );
    assert_eq!(
        (error.line(), error.column()),
        (Some(line), Some(column)),
        "{test}: wrong position: {error}"
    );
    assert!(
        error.message().contains(fragment),
        "{test}: message lacks {fragment:?}: {error}"
    );
}

const EVERY_FORM: &str = r##"description: Every form of the format, once.
proves: [REQ-R2, REQ-F3]
filesystems: [xfs, ext4]
why: Power cuts need FS_IOC_SHUTDOWN.
policy:
  preset: permissive
  link_style: absolute
  require_lock: true
  require_rescue: false
  require_smoke: true
  auto_rollback: false
  allow_degraded: true
  lock_manager: true
  lock_timeout_ms: 250
  smoke_runner: false
  smoke_timeout_ms: 1000
  smoke_args: [--version]
  backup_store: second_filesystem
tree:
  usr/bin/ls:    { file: "GNU ls\n", mode: "0755" }
  usr/bin/dir:   { symlink: ls }
  usr/lib:       { dir: {} }
  opt/uutils/ls: { file: "#!/bin/sh\necho uutils\n", mode: "4755", owner: "0:0", xattrs: { user.origin: uutils } }
steps:
  - apply:
      link: [ { source: opt/uutils/ls, target: usr/bin/ls } ]
      restore: [ usr/bin/cat ]
      mode: dry_run
      expect: E_LOCKING
  - check:
      usr/bin/ls: { symlink: ../../opt/uutils/ls }
      usr/bin/new: absent
      opt/uutils/ls: { mode: "4755", owner: "0:0", xattrs: {} }
  - write:
      usr/bin/ls: { file: "admin's ls\n", mode: "0755" }
      usr/bin/old: absent
  - fault: fill
  - fault: read_only
  - fault: hold_lock
  - fault: { immutable: usr/bin/ls }
  - clear: read_only
  - clear: { immutable: usr/bin/ls }
  - prune: { keep: 1, expect: E_READ_ONLY }
  - rollback:
  - rollback: { expect: E_DRIFT, force: true }
  - rollback:
      crash: { at: [rollback.after_restore, rollback.after_fsync], how: [kill, power_cut] }
"##;

fn file(content: &str, mode: Option<u32>) -> Entry {
    Entry {
        kind: EntryKind::File {
            content: content.to_owned(),
        },
        mode: mode.map(|bits| Mode::new(bits).unwrap()),
        owner: None,
        xattrs: BTreeMap::new(),
    }
}

#[test]
fn every_form_loads_into_its_typed_value() {
    let path = write(&test_dir("every_form"), "every-form.yaml", EVERY_FORM);
    let scenario = load_file(&path).unwrap();

    let root_owned_setuid = Entry {
        owner: Some(Owner { uid: 0, gid: 0 }),
        xattrs: BTreeMap::from([("user.origin".to_owned(), "uutils".to_owned())]),
        ..file("#!/bin/sh\necho uutils\n", Some(0o4755))
    };
    let expected = Scenario {
        name: "every-form".to_owned(),
        file: path,
        description: "Every form of the format, once.".to_owned(),
        proves: Some(vec![
            RequirementRef {
                id: "REQ-R2".to_owned(),
                position: Some(Position {
                    line: 2,
                    column: 10,
                }),
            },
            RequirementRef {
                id: "REQ-F3".to_owned(),
                position: Some(Position {
                    line: 2,
                    column: 18,
                }),
            },
        ]),
        filesystems: Some(vec![FsKind::Ext4, FsKind::Xfs]),
        why: Some("Power cuts need FS_IOC_SHUTDOWN.".to_owned()),
        policy: PolicySpec {
            preset: Preset::Permissive,
            overrides: PolicyOverrides {
                link_style: Some(LinkStyle::Absolute),
                require_lock: Some(true),
                require_rescue: Some(false),
                require_smoke: Some(true),
                auto_rollback: Some(false),
                allow_degraded: Some(true),
                lock_manager: Some(true),
                lock_timeout_ms: Some(250),
                smoke_runner: Some(false),
                smoke_timeout_ms: Some(1000),
                smoke_args: Some(vec!["--version".to_owned()]),
                backup_store: Some(BackupStore::SecondFilesystem),
            },
        },
        tree: BTreeMap::from([
            ("opt/uutils/ls".to_owned(), root_owned_setuid),
            (
                "usr/bin/dir".to_owned(),
                Entry {
                    kind: EntryKind::Symlink {
                        destination: "ls".to_owned(),
                    },
                    mode: None,
                    owner: None,
                    xattrs: BTreeMap::new(),
                },
            ),
            ("usr/bin/ls".to_owned(), file("GNU ls\n", Some(0o755))),
            (
                "usr/lib".to_owned(),
                Entry {
                    kind: EntryKind::Dir,
                    mode: None,
                    owner: None,
                    xattrs: BTreeMap::new(),
                },
            ),
        ]),
        steps: vec![
            Step::Apply(ApplyStep {
                link: vec![LinkRequest {
                    source: "opt/uutils/ls".to_owned(),
                    target: "usr/bin/ls".to_owned(),
                }],
                restore: vec!["usr/bin/cat".to_owned()],
                mode: ApplyMode::DryRun,
                expect: Some(ErrorId::Locking),
                crash: None,
            }),
            Step::Check(BTreeMap::from([
                (
                    "opt/uutils/ls".to_owned(),
                    CheckEntry::Present(PartialEntry {
                        kind: None,
                        mode: Mode::new(0o4755),
                        owner: Some(Owner { uid: 0, gid: 0 }),
                        xattrs: Some(BTreeMap::new()),
                    }),
                ),
                (
                    "usr/bin/ls".to_owned(),
                    CheckEntry::Present(PartialEntry {
                        kind: Some(EntryKind::Symlink {
                            destination: "../../opt/uutils/ls".to_owned(),
                        }),
                        ..PartialEntry::default()
                    }),
                ),
                ("usr/bin/new".to_owned(), CheckEntry::Absent),
            ])),
            Step::Write(BTreeMap::from([
                (
                    "usr/bin/ls".to_owned(),
                    WriteEntry::Put(file("admin's ls\n", Some(0o755))),
                ),
                ("usr/bin/old".to_owned(), WriteEntry::Remove),
            ])),
            Step::Fault(Fault::Fill),
            Step::Fault(Fault::ReadOnly),
            Step::Fault(Fault::HoldLock),
            Step::Fault(Fault::Immutable("usr/bin/ls".to_owned())),
            Step::Clear(Fault::ReadOnly),
            Step::Clear(Fault::Immutable("usr/bin/ls".to_owned())),
            Step::Prune(PruneStep {
                keep: NonZeroU64::new(1).unwrap(),
                expect: Some(ErrorId::ReadOnly),
            }),
            Step::Rollback(RollbackStep::default()),
            Step::Rollback(RollbackStep {
                expect: Some(ErrorId::Drift),
                force: true,
                crash: None,
            }),
            Step::Rollback(RollbackStep {
                expect: None,
                force: false,
                crash: Some(CrashSpec {
                    phase: Phase::Rollback,
                    at: CrashAt::Points(vec![
                        CrashPoint::RollbackAfterRestore,
                        CrashPoint::RollbackAfterFsync,
                    ]),
                    how: vec![CrashMethod::Kill, CrashMethod::PowerCut],
                }),
            }),
        ],
    };
    assert_eq!(scenario, expected);
    assert_eq!(
        scenario.filesystems_in(&FsKind::ALL),
        [FsKind::Ext4, FsKind::Xfs]
    );
    assert_eq!(scenario.crash(), expected.crash());
}

#[test]
fn a_preset_name_and_crash_at_every() {
    let scenario = load(
        "preset_name",
        "description: d\n\
         policy: production\n\
         steps:\n  \
           - apply:\n      \
               link: [ { source: a, target: b } ]\n      \
               crash: { at: every, how: [kill] }\n",
    )
    .unwrap();
    assert_eq!(scenario.policy, PolicySpec::default());
    assert_eq!(scenario.filesystems, None);
    assert_eq!(scenario.proves, None);
    assert_eq!(scenario.tree, BTreeMap::new());
    let crash = scenario.crash().unwrap();
    assert_eq!(crash.at, CrashAt::Every);
    assert_eq!(crash.phase, Phase::Apply);
    assert!(CrashPoint::ALL.into_iter().all(|p| crash.selects(p)));
}

/// The reference's complete example is a valid scenario.
#[test]
fn the_reference_example_loads() {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/scenario-format.md");
    let reference = fs::read_to_string(&reference).unwrap();
    let (_, example) = reference.split_once("## A complete example").unwrap();
    let (_, example) = example.split_once("```yaml\n").unwrap();
    let (example, _) = example.split_once("```").unwrap();

    let scenario = load("reference_example", example).unwrap();
    assert_eq!(scenario.filesystems, Some(vec![FsKind::Ext4, FsKind::Xfs]));
    assert_eq!(scenario.steps.len(), 5);
    assert_eq!(
        scenario.crash().map(|crash| crash.how.clone()),
        Some(vec![CrashMethod::Kill, CrashMethod::PowerCut])
    );
}

// One test per kind of mistake. Each document is valid but for the one mistake.

#[test]
fn bad_indentation() {
    assert_fails(
        "bad_indentation",
        "description: d\n\
         policy: production\n\
         tree:\n  \
           usr/bin/ls: { file: x }\n   \
            usr/bin/cat: { file: y }\n\
         steps:\n  - rollback: {}\n",
        5,
        4,
        "invalid YAML",
    );
}

/// Proves: REQ-M1
#[test]
fn unknown_top_level_key() {
    assert_fails(
        "unknown_top_level_key",
        "description: d\npolicy: production\nfrobnicate: 1\nsteps:\n  - rollback: {}\n",
        3,
        1,
        "unknown key `frobnicate` at the top level (expected one of: description, proves, \
         filesystems, why, policy, tree, steps)",
    );
}

#[test]
fn a_requirement_proven_twice() {
    assert_fails(
        "a_requirement_proven_twice",
        "description: d\nproves: [REQ-R2, REQ-R3, REQ-R2]\npolicy: production\nsteps:\n  - rollback: {}\n",
        2,
        26,
        "requirement `REQ-R2` is listed twice in `proves`",
    );
}

#[test]
fn proves_is_a_list() {
    assert_fails(
        "proves_is_a_list",
        "description: d\nproves: REQ-R2\npolicy: production\nsteps:\n  - rollback: {}\n",
        2,
        9,
        "wrong type",
    );
}

#[test]
fn unknown_key_in_a_step() {
    assert_fails(
        "unknown_key_in_a_step",
        "description: d\n\
         policy: production\n\
         steps:\n  \
           - apply:\n      \
               link: [ { source: opt/uutils/ls, target: usr/bin/ls } ]\n      \
               frobnicate: 3\n",
        6,
        7,
        "unknown key `frobnicate` in step `apply` (expected one of: link, restore, mode, expect, \
         crash)",
    );
}

#[test]
fn duplicate_key() {
    assert_fails(
        "duplicate_key",
        "description: d\npolicy: production\npolicy: permissive\nsteps:\n  - rollback: {}\n",
        3,
        1,
        "duplicate key `policy`",
    );
}

#[test]
fn duplicate_path() {
    assert_fails(
        "duplicate_path",
        "description: d\n\
         policy: production\n\
         tree:\n  \
           usr/bin/ls: { file: x }\n  \
           usr/bin/ls: { file: y }\n\
         steps:\n  - rollback: {}\n",
        5,
        3,
        "duplicate key `usr/bin/ls`",
    );
}

#[test]
fn unquoted_mode() {
    assert_fails(
        "unquoted_mode",
        "description: d\n\
         policy: production\n\
         tree:\n  \
           usr/bin/ls: { file: x, mode: 755 }\n\
         steps:\n  - rollback: {}\n",
        4,
        32,
        "mode 755 must be quoted: unquoted, YAML reads it as the decimal number 755; write mode: \
         \"755\"",
    );
}

#[test]
fn unquoted_mode_with_a_leading_zero_is_quoted_back_as_written() {
    assert_fails(
        "unquoted_mode_leading_zero",
        "description: d\n\
         policy: production\n\
         tree:\n  \
           usr/bin/ls: { file: x, mode: 0755 }\n\
         steps:\n  - rollback: {}\n",
        4,
        32,
        "mode 0755 must be quoted: unquoted, YAML reads it as the decimal number 755; write mode: \
         \"0755\"",
    );
}

#[test]
fn filesystems_not_a_list() {
    assert_fails(
        "filesystems_not_a_list",
        "description: d\nfilesystems: ext4\nwhy: w\npolicy: production\nsteps:\n  - rollback: {}\n",
        2,
        14,
        "wrong type: expected a list",
    );
}

#[test]
fn unknown_filesystem() {
    assert_fails(
        "unknown_filesystem",
        "description: d\n\
         filesystems: [ext4, zfs]\n\
         why: w\n\
         policy: production\n\
         steps:\n  - rollback: {}\n",
        2,
        21,
        "unknown filesystem `zfs` (expected one of: ext4, btrfs, xfs, tmpfs, overlay)",
    );
}

#[test]
fn unknown_error_id() {
    assert_fails(
        "unknown_error_id",
        "description: d\npolicy: production\nsteps:\n  - apply: { link: [ { source: a, target: b } ] }\n  - rollback: { expect: E_FROB }\n",
        5,
        25,
        "unknown error id `E_FROB` (expected one of: E_POLICY, ",
    );
}

#[test]
fn crash_point_of_the_wrong_phase() {
    assert_fails(
        "crash_point_of_the_wrong_phase",
        "description: d\n\
         policy: production\n\
         steps:\n  \
           - apply:\n      \
               link: [ { source: a, target: b } ]\n      \
               crash:\n        \
                 at: [apply.after_swap, rollback.after_fsync]\n        \
                 how: [kill]\n",
        7,
        32,
        "crash point `rollback.after_fsync` belongs to rollback, but this `crash` is in step \
         `apply`",
    );
}

#[test]
fn crash_not_in_the_last_step() {
    assert_fails(
        "crash_not_in_the_last_step",
        "description: d\n\
         policy: production\n\
         steps:\n  \
           - apply: { link: [ { source: a, target: b } ] }\n  \
           - rollback: { crash: { at: every, how: [kill] } }\n  \
           - rollback: {}\n",
        5,
        24,
        "`crash` is only allowed in the last step",
    );
}

#[test]
fn power_cut_on_every_filesystem() {
    assert_fails(
        "power_cut_on_every_filesystem",
        "description: d\n\
         policy: production\n\
         steps:\n  \
           - apply: { link: [ { source: a, target: b } ] }\n  \
           - rollback: { crash: { at: every, how: [kill, power_cut] } }\n",
        5,
        49,
        "`power_cut` needs FS_IOC_SHUTDOWN, which is only on ext4 and xfs",
    );
}

#[test]
fn power_cut_on_a_filesystem_without_shutdown() {
    assert_fails(
        "power_cut_on_btrfs",
        "description: d\n\
         filesystems: [ext4, btrfs]\n\
         why: w\n\
         policy: production\n\
         steps:\n  \
           - apply: { link: [ { source: a, target: b } ] }\n  \
           - rollback: { crash: { at: every, how: [power_cut] } }\n",
        2,
        21,
        "`btrfs` cannot run the `power_cut` crash trials of this scenario: power_cut needs \
         FS_IOC_SHUTDOWN, which is only on ext4 and xfs",
    );
}

#[test]
fn recorded_on_every_filesystem() {
    assert_fails(
        "recorded_on_every_filesystem",
        "description: d\n\
         policy: production\n\
         steps:\n  \
           - apply: { link: [ { source: a, target: b } ], crash: { at: every, how: [recorded] } }\n",
        4,
        76,
        "`recorded` needs a block device of the filesystem's own (tmpfs has none; overlay writes \
         through to another filesystem), which is only on ext4, btrfs and xfs, but this scenario \
         runs on every filesystem: narrow it with `filesystems: [ext4, btrfs, xfs]` and a `why`",
    );
}

#[test]
fn recorded_on_tmpfs() {
    assert_fails(
        "recorded_on_tmpfs",
        "description: d\n\
         filesystems: [ext4, tmpfs]\n\
         why: w\n\
         policy: production\n\
         steps:\n  \
           - apply: { link: [ { source: a, target: b } ] }\n  \
           - rollback: { crash: { at: every, how: [recorded] } }\n",
        2,
        21,
        "`tmpfs` cannot run the `recorded` crash trials of this scenario",
    );
}

#[test]
fn why_without_narrowing() {
    assert_fails(
        "why_without_narrowing",
        "description: d\nwhy: because\npolicy: production\nsteps:\n  - rollback: {}\n",
        2,
        6,
        "no `filesystems` and runs on all of them: remove `why`",
    );
}

#[test]
fn why_with_all_five_filesystems() {
    assert_fails(
        "why_with_all_five",
        "description: d\n\
         filesystems: [overlay, tmpfs, xfs, btrfs, ext4]\n\
         why: because\n\
         policy: production\n\
         steps:\n  - rollback: {}\n",
        3,
        6,
        "its `filesystems` lists all of them: remove `why`",
    );
}

#[test]
fn narrowing_without_why() {
    assert_fails(
        "narrowing_without_why",
        "description: d\nfilesystems: [ext4, xfs]\npolicy: production\nsteps:\n  - rollback: {}\n",
        2,
        14,
        "`filesystems` leaves some filesystems out of this scenario: add `why:`",
    );
}

#[test]
fn absent_in_the_tree() {
    assert_fails(
        "absent_in_the_tree",
        "description: d\n\
         policy: production\n\
         tree:\n  \
           usr/bin/ls: absent\n\
         steps:\n  - rollback: {}\n",
        4,
        15,
        "`absent` is not allowed in `tree`",
    );
}

#[test]
fn dot_dot_in_a_tree_path() {
    assert_fails(
        "dot_dot_in_a_tree_path",
        "description: d\n\
         policy: production\n\
         tree:\n  \
           usr/../etc/passwd: { file: x }\n\
         steps:\n  - rollback: {}\n",
        4,
        3,
        "path `usr/../etc/passwd` must not contain `..`",
    );
}

#[test]
fn bad_paths() {
    for (path, why) in [
        ("/usr/bin/ls", "must be relative"),
        ("usr/bin/", "must not end with `/`"),
        ("usr//bin", "empty component"),
        ("./usr", "`.` component"),
        ("\"\"", "empty path"),
    ] {
        assert_fails(
            "bad_paths",
            &format!(
                "description: d\npolicy: production\nsteps:\n  - check: {{ {path}: absent }}\n"
            ),
            4,
            14,
            why,
        );
    }
}

#[test]
fn a_step_written_as_a_bare_word() {
    assert_fails(
        "step_as_a_word",
        "description: d\npolicy: production\nsteps:\n  - rollback\n",
        4,
        5,
        "write `- rollback: ...`, not `- rollback`",
    );
}

#[test]
fn a_step_with_two_keys() {
    assert_fails(
        "step_with_two_keys",
        "description: d\n\
         policy: production\n\
         steps:\n  \
           - apply: { link: [ { source: a, target: b } ] }\n    \
             rollback: {}\n",
        5,
        5,
        "a step has exactly one key, but this one also has `rollback`",
    );
}

#[test]
fn an_unknown_step() {
    assert_fails(
        "unknown_step",
        "description: d\npolicy: production\nsteps:\n  - swap: {}\n",
        4,
        5,
        "unknown step `swap` (expected one of: apply, rollback, check, write, fault, clear, prune)",
    );
}

#[test]
fn an_apply_without_requests() {
    assert_fails(
        "apply_without_requests",
        "description: d\npolicy: production\nsteps:\n  - apply: { link: [] }\n",
        4,
        12,
        "`apply` needs at least one `link` or `restore` request",
    );
}

#[test]
fn prune_keeps_at_least_one() {
    assert_fails(
        "prune_keeps_at_least_one",
        "description: d\npolicy: production\nsteps:\n  - apply: { link: [ { source: a, target: b } ] }\n  - prune: { keep: 0 }\n",
        5,
        20,
        "`keep` must be at least 1",
    );
}

#[test]
fn clear_without_a_fault() {
    assert_fails(
        "clear_without_a_fault",
        "description: d\npolicy: production\nsteps:\n  - fault: fill\n  - clear: read_only\n",
        5,
        12,
        "nothing to clear: no earlier step injects fault `read_only`",
    );
}

#[test]
fn an_entry_of_two_kinds() {
    assert_fails(
        "entry_of_two_kinds",
        "description: d\n\
         policy: production\n\
         tree:\n  \
           a: { file: x, symlink: y }\n\
         steps:\n  - rollback: {}\n",
        4,
        26,
        "this one has both `file` and `symlink`",
    );
}

#[test]
fn a_path_below_a_file() {
    assert_fails(
        "path_below_a_file",
        "description: d\n\
         policy: production\n\
         tree:\n  \
           usr/bin: { file: x }\n  \
           usr/bin/ls: { file: y }\n\
         steps:\n  - rollback: {}\n",
        5,
        3,
        "`usr/bin/ls` lies below `usr/bin`, which the tree makes a file, not a directory",
    );
}

#[test]
fn a_symlink_has_no_mode() {
    assert_fails(
        "symlink_has_no_mode",
        "description: d\n\
         policy: production\n\
         tree:\n  \
           a: { symlink: b, mode: \"0777\" }\n\
         steps:\n  - rollback: {}\n",
        4,
        26,
        "a symlink has no mode of its own",
    );
}

#[test]
fn xattrs_are_user_xattrs() {
    assert_fails(
        "xattrs_are_user_xattrs",
        "description: d\n\
         policy: production\n\
         tree:\n  \
           a: { file: x, xattrs: { security.capability: x } }\n\
         steps:\n  - rollback: {}\n",
        4,
        27,
        "xattr `security.capability` must be in the `user.` namespace",
    );
}

/// A symlink holds at most PATH_MAX less its NUL: a longer destination can never be made (in
/// `tree` or `write`) nor read back (in `check`).
#[test]
fn a_symlink_destination_longer_than_path_max() {
    let fits = "d/".repeat(2047) + "d";
    assert_eq!(fits.len(), 4095);
    let long = format!("{fits}d");
    let fitting = format!(
        "description: d\npolicy: production\ntree:\n  a: {{ symlink: {fits} }}\nsteps:\n  - apply: {{ link: [ {{ source: b, target: c }} ] }}\n"
    );
    load("symlink_fits", &fitting).unwrap();
    let why = "a symlink destination is 4096 bytes long, more than 4095, the most a symlink holds";
    assert_fails(
        "symlink_too_long_tree",
        &fitting.replace(&fits, &long),
        4,
        17,
        why,
    );
    for (place, column) in [("write", 28), ("check", 28)] {
        assert_fails(
            &format!("symlink_too_long_{place}"),
            &format!(
                "description: d\npolicy: production\nsteps:\n  - apply: {{ link: [ {{ source: b, target: c }} ] }}\n  - {place}: {{ a: {{ symlink: {long} }} }}\n"
            ),
            5,
            column,
            why,
        );
    }
}

/// An xattr value holds at most 64 KiB (XATTR_SIZE_MAX); a name needs more than its namespace.
#[test]
fn an_xattr_value_over_64_kib_and_an_empty_xattr_name() {
    let fits = "v".repeat(65536);
    let fitting = format!(
        "description: d\npolicy: production\ntree:\n  a: {{ file: x, xattrs: {{ user.big: {fits} }} }}\nsteps:\n  - apply: {{ link: [ {{ source: b, target: c }} ] }}\n"
    );
    load("xattr_fits", &fitting).unwrap();
    assert_fails(
        "xattr_too_large",
        &fitting.replace(&fits, &format!("{fits}v")),
        4,
        37,
        "the value of xattr `user.big` is 65537 bytes long, more than 65536, the most an xattr holds",
    );
    assert_fails(
        "xattr_without_a_name",
        &fitting.replace("user.big", "user."),
        4,
        27,
        "xattr `user.` has no name after its namespace, such as `user.origin`",
    );
}

#[test]
fn a_null_is_not_a_missing_key() {
    assert_fails(
        "null_is_not_missing",
        "description: d\npolicy: production\nsteps:\n  - check: { a: { file: } }\n",
        4,
        23,
        "wrong type: expected a string, found nothing",
    );
}

#[test]
fn text_that_is_not_utf8() {
    let path = write(&test_dir("not_utf8"), "case.yaml", "");
    fs::write(&path, b"description: d\npolicy: \xff\n").unwrap();
    let error = load_file(&path).unwrap_err();
    assert_eq!((error.line(), error.column()), (Some(2), Some(9)));
    assert!(error.message().contains("not UTF-8"), "{error}");
}

#[test]
fn file_stems_must_be_scenario_names() {
    let path = write(
        &test_dir("bad_name"),
        "two words.yaml",
        "description: d\npolicy: production\nsteps:\n  - rollback: {}\n",
    );
    let error = load_file(&path).unwrap_err();
    assert_eq!(error.position(), None);
    assert!(
        error.to_string().ends_with(
            "two words.yaml: `two words` is not a valid scenario name: the file stem names the \
             scenario, and may hold only ASCII letters, digits, `-` and `_`"
        ),
        "{error}"
    );
}

const GOOD: &str = "description: d\npolicy: production\nsteps:\n  - apply: { link: [ { source: a, target: b } ] }\n  - rollback: {}\n";

/// Proves: REQ-M1
#[test]
fn load_dir_reports_every_bad_file() {
    let dir = test_dir("load_dir_bad");
    write(&dir, "b-good.yaml", GOOD);
    write(
        &dir,
        "c-bad.yml",
        "description: d\npolicy: production\nsteps: []\n",
    );
    write(
        &dir,
        "a-bad.yaml",
        "description: d\npolicy: production\nfrob: 1\nsteps: []\n",
    );
    write(&dir, "notes.txt", "not a scenario");

    let errors = load_dir(&dir).unwrap_err().into_vec();
    let reported: Vec<_> = errors
        .iter()
        .map(|e| (e.file().file_name().unwrap(), e.line(), e.column()))
        .collect();
    assert_eq!(
        reported,
        [
            ("a-bad.yaml".as_ref(), Some(3), Some(1)),
            ("c-bad.yml".as_ref(), Some(3), Some(8)),
        ]
    );
    assert!(
        errors[1].message().contains("`steps` is empty"),
        "{}",
        errors[1]
    );
}

#[test]
fn load_dir_sorts_by_name_and_skips_other_files() {
    let dir = test_dir("load_dir_good");
    write(&dir, "zeta.yml", GOOD);
    write(&dir, "alpha.yaml", GOOD);
    write(&dir, ".hidden.yaml", "not even YAML: [");
    write(&dir, "README.md", "# scenarios");
    fs::create_dir(dir.join("nested")).unwrap();
    write(&dir.join("nested"), "deep.yaml", "broken: [");

    let names: Vec<String> = load_dir(&dir)
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["alpha", "zeta"]);
}

#[test]
fn load_dir_rejects_two_files_of_one_name() {
    let dir = test_dir("load_dir_same_name");
    write(&dir, "same.yaml", GOOD);
    write(&dir, "same.yml", GOOD);
    let errors = load_dir(&dir).unwrap_err().into_vec();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].file().ends_with("same.yml"));
    assert!(
        errors[0]
            .message()
            .starts_with("scenario `same` is already defined by"),
        "{}",
        errors[0]
    );
}

#[test]
fn load_dir_of_a_missing_directory() {
    let dir = test_dir("load_dir_missing").join("absent");
    let errors = load_dir(&dir).unwrap_err().into_vec();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].file(), dir);
    assert!(
        errors[0]
            .message()
            .starts_with("cannot read the scenario directory"),
        "{}",
        errors[0]
    );
}

#[test]
fn an_empty_file() {
    assert_fails(
        "empty_file",
        "# nothing but a comment\n",
        2,
        1,
        "unexpected end of file: a scenario needs at least `description`, `policy` and `steps`",
    );
}

#[test]
fn anchors_aliases_and_merge_keys() {
    let scenario = load(
        "anchors",
        "description: d\n\
         policy: production\n\
         tree:\n  \
           a: &gnu { file: \"GNU\\n\", mode: \"0755\" }\n  \
           b: *gnu\n  \
           c: { <<: *gnu, mode: \"0700\" }\n\
         steps:\n  - apply: { link: [ { source: a, target: b } ] }\n  - rollback:\n",
    )
    .unwrap();
    let gnu = file("GNU\n", Some(0o755));
    assert_eq!(scenario.tree["a"], gnu);
    assert_eq!(scenario.tree["b"], gnu);
    assert_eq!(scenario.tree["c"], file("GNU\n", Some(0o700)));
}

/// Loads `dir` on another thread, failing the test instead of hanging it.
fn load_dir_within_seconds(dir: &Path) -> Result<Vec<Scenario>, ScenarioErrors> {
    let (tx, rx) = std::sync::mpsc::channel();
    let owned = dir.to_owned();
    std::thread::spawn(move || {
        let _ = tx.send(load_dir(&owned));
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("loading the directory hung")
}

#[test]
fn only_regular_files_are_read_as_scenarios() {
    let dir = test_dir("not_regular");
    write(&dir, "good.yaml", GOOD);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.join("fifo.yaml"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.yaml")).unwrap();
    fs::create_dir(dir.join("dir.yaml")).unwrap();
    let errors = load_dir_within_seconds(&dir).unwrap_err().into_vec();
    let reported: Vec<(String, &str)> = errors
        .iter()
        .map(|e| {
            let name = e.file().file_name().unwrap().to_string_lossy().into_owned();
            (name, e.message())
        })
        .collect();
    assert_eq!(
        reported,
        [
            (
                "dir.yaml".to_owned(),
                "not a regular file (a directory): a scenario is a regular file"
            ),
            (
                "fifo.yaml".to_owned(),
                "not a regular file (a FIFO): a scenario is a regular file"
            ),
            (
                "zero.yaml".to_owned(),
                "not a regular file (a character device): a scenario is a regular file"
            ),
        ]
    );
}

#[test]
fn a_file_over_the_size_limit_is_refused_while_reading() {
    let dir = test_dir("too_large");
    let mut text = GOOD.to_owned();
    while (text.len() as u64) <= MAX_FILE_BYTES {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    let error = load_file(&write(&dir, "large.yaml", &text)).unwrap_err();
    assert_eq!(
        error.message(),
        "the file is larger than 1024 KiB, the limit for a scenario file"
    );
}

#[test]
fn a_directory_without_scenarios_is_an_error() {
    let dir = test_dir("no_scenarios");
    write(&dir, "README.md", "# scenarios");
    let errors = load_dir(&dir).unwrap_err().into_vec();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].file(), dir);
    assert!(
        errors[0].message().starts_with("no scenario files"),
        "{}",
        errors[0]
    );
}

#[test]
fn rollback_and_prune_need_an_earlier_apply() {
    for step in ["rollback: {}", "prune: { keep: 1 }"] {
        assert_fails(
            "no_earlier_apply",
            &format!(
                "description: d\npolicy: production\nsteps:\n  - write: {{ a: {{ dir: {{}} }} }}\n  - {step}\n"
            ),
            5,
            5,
            "needs an earlier `apply` step",
        );
    }
}

#[test]
fn an_owner_of_uid_t_minus_one_can_never_be() {
    for owner in ["4294967295:0", "0:4294967295"] {
        assert_fails(
            "owner_minus_one",
            &format!(
                "description: d\npolicy: production\ntree:\n  a: {{ dir: {{}}, owner: \"{owner}\" }}\nsteps:\n  - apply: {{ link: [ {{ source: a, target: b }} ] }}\n"
            ),
            4,
            24,
            "4294967295 is (uid_t)-1",
        );
    }
}

#[test]
fn a_path_longer_than_path_max() {
    let long = vec!["d".repeat(200); 21].join("/");
    assert_fails(
        "path_max",
        &format!(
            "description: d\npolicy: production\nsteps:\n  - fault: {{ immutable: {long} }}\n"
        ),
        4,
        25,
        "is longer than 4095 bytes, the longest path a system call takes (PATH_MAX)",
    );
}

#[test]
fn a_nul_in_smoke_args() {
    assert_fails(
        "smoke_args_nul",
        "description: d\npolicy: { preset: production, smoke_args: [--version, \"a\\0b\"] }\nsteps:\n  - apply: { link: [ { source: a, target: b } ] }\n",
        2,
        55,
        "must not contain a NUL character",
    );
}

#[test]
fn a_scenario_name_too_long_for_its_trial_files() {
    let dir = test_dir("long_name");
    let fits = "n".repeat(237);
    load_file(&write(&dir, &format!("{fits}.yaml"), GOOD)).unwrap();
    let long = "n".repeat(238);
    let error = load_file(&write(&dir, &format!("{long}.yaml"), GOOD)).unwrap_err();
    assert!(
        error.message().contains("is 238 bytes long, more than 237"),
        "{error}"
    );
}
