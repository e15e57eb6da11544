//! Fresh trees, the binary, and tree snapshots for the command-line tests.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where every test keeps its tree: removed at the start of the next run of the same test, not
/// at the end, so a failure can be inspected. Under the target directory, so that checkouts
/// testing side by side do not remove each other's trees.
const TEST_DIR: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/switchyard-cli-tests");

/// The tools the trees switch: copies of the machine's GNU coreutils as the "new" side.
pub const TOOLS: [&str; 5] = ["cat", "false", "ls", "true", "yes"];

#[derive(Debug)]
pub struct Tree {
    pub dir: PathBuf,
    pub root: PathBuf,
}

impl Tree {
    /// A root with `usr/bin/<tool>` scripts, working replacements in `opt/new`, and BusyBox as
    /// the rescue toolset, so a production commit can pass.
    pub fn new(name: &str) -> Tree {
        let dir = Path::new(TEST_DIR).join(name);
        if dir.exists() {
            fs::remove_dir_all(&dir).unwrap();
        }
        let root = dir.join("root");
        let tree = Tree { dir, root };
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.is_file(),
            "{} is missing: install the Debian package `busybox` (apt-get install busybox)",
            busybox.display()
        );
        for tool in TOOLS {
            tree.file(
                &format!("usr/bin/{tool}"),
                &format!("#!/bin/sh\necho old {tool}\n"),
            );
            let host = Path::new("/usr/bin").join(tool);
            assert!(
                host.is_file(),
                "{} is missing: install coreutils",
                host.display()
            );
            fs::create_dir_all(tree.path("opt/new")).unwrap();
            fs::copy(&host, tree.path(&format!("opt/new/{tool}"))).unwrap();
        }
        fs::create_dir_all(tree.path("usr/sbin")).unwrap();
        // The rescue toolset is looked up inside the root: the root's own copy of BusyBox.
        fs::copy(busybox, tree.path("usr/bin/busybox")).unwrap();
        tree
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn file(&self, rel: &str, content: &str) -> &Tree {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    /// `switchyard --root ROOT ARGS...`, to be run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchyard"));
        command.arg("--root").arg(&self.root).args(args);
        command
    }

    /// Runs `switchyard --root ROOT ARGS...`.
    pub fn run(&self, args: &[&str]) -> Run {
        Run(self.command(args).output().unwrap())
    }

    /// Every entry with what rollback must restore, leaving out the engine's sidecars and its
    /// state directory (plan records and the lock), which stay on purpose.
    pub fn snapshot(&self) -> Snapshot {
        let mut out = BTreeMap::new();
        walk(&self.root, &self.root, &mut out);
        out.retain(|rel, _| {
            let name = Path::new(rel).file_name().unwrap().to_string_lossy();
            !rel.starts_with("var") && !name.contains(".switchyard.")
        });
        out
    }

    /// What the engine keeps of the tree's history: sidecars, backups and plan records.
    pub fn engine_files(&self) -> Vec<String> {
        let mut out = BTreeMap::new();
        walk(&self.root, &self.root, &mut out);
        out.into_keys()
            .filter(|rel| {
                let name = Path::new(rel).file_name().unwrap().to_string_lossy();
                name.contains(".switchyard.") || rel.starts_with("var/lib/switchyard/plans/")
            })
            .collect()
    }

    pub fn is_link(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.path(rel)).unwrap().is_symlink()
    }
}

/// Each entry's mode, inode, bytes (files) and destination (symlinks), by path.
pub type Snapshot = BTreeMap<String, (u32, u64, Option<Vec<u8>>, Option<PathBuf>)>;

fn walk(root: &Path, dir: &Path, out: &mut Snapshot) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let ft = meta.file_type();
        let content = ft.is_file().then(|| fs::read(&path).unwrap());
        let dest = ft.is_symlink().then(|| fs::read_link(&path).unwrap());
        out.insert(rel, (meta.mode(), meta.ino(), content, dest));
        if ft.is_dir() {
            walk(root, &path, out);
        }
    }
}

/// One finished run of the binary.
#[derive(Debug)]
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().expect("switchyard died on a signal")
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// Asserts the exit code, showing the output when it differs.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code(),
            code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.0.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout()))
    }
}
