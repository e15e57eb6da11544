//! Fresh directories, tree builders and exact tree snapshots for the engine tests.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::Duration;

use switchyard::{
    ApplyMode, ApplyReport, EngineFile, EngineName, FileLock, LinkRequest, MemorySink, Plan,
    Policy, RollbackOptions, RollbackReport, SafePath, Switchyard,
};

/// Where every test keeps its tree: removed at the start of the next run of the same test, not
/// at the end, so a failure can be inspected. Under the checkout's own target directory, so two
/// checkouts testing at once never share a tree.
pub const TEST_DIR: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/switchyard-engine-tests");

#[derive(Debug)]
pub struct Sandbox {
    pub dir: PathBuf,
    pub root: PathBuf,
}

impl Sandbox {
    pub fn new(name: &str) -> Sandbox {
        let dir = Path::new(TEST_DIR).join(name);
        if dir.exists() {
            clear_immutable(&dir);
            fs::remove_dir_all(&dir).unwrap();
        }
        let root = dir.join("root");
        fs::create_dir_all(&root).unwrap();
        Sandbox { dir, root }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn safe(&self, rel: &str) -> SafePath {
        SafePath::new(&self.root, rel).unwrap()
    }

    pub fn file(&self, rel: &str, content: &str, mode: u32) -> &Sandbox {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        self
    }

    pub fn symlink(&self, rel: &str, dest: &str) -> &Sandbox {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        symlink(dest, &path).unwrap();
        self
    }

    pub fn dir(&self, rel: &str) -> &Sandbox {
        fs::create_dir_all(self.path(rel)).unwrap();
        self
    }

    /// A plan of `(source, target)` links.
    pub fn plan(&self, links: &[(&str, &str)]) -> Plan {
        Plan::links(links.iter().map(|(source, target)| LinkRequest {
            source: self.safe(source),
            target: self.safe(target),
        }))
        .unwrap()
    }

    /// A lock file outside the managed tree.
    pub fn lock(&self, wait: Duration) -> FileLock {
        FileLock::new(self.dir.join("switchyard.lock"), wait)
    }

    /// Every entry under the root with everything that rollback must restore.
    pub fn snapshot(&self) -> Snapshot {
        snapshot(&self.root)
    }

    /// The snapshot without the engine's sidecars, which rollback keeps on purpose. Backups and
    /// temporaries stay in: after a rollback none may remain.
    pub fn snapshot_without_sidecars(&self) -> Snapshot {
        without_sidecars(self.snapshot())
    }
}

/// A snapshot without the engine's sidecars.
pub fn without_sidecars(mut snap: Snapshot) -> Snapshot {
    snap.retain(|path, _| {
        let name = Path::new(path).file_name().unwrap_or_default();
        EngineName::parse(name).is_none_or(|n| n.file != EngineFile::Sidecar)
    });
    snap
}

/// One entry of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub ino: u64,
    pub content: Option<Vec<u8>>,
    pub dest: Option<PathBuf>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

pub type Snapshot = BTreeMap<String, Entry>;

pub fn snapshot(root: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Snapshot) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let meta = fs::symlink_metadata(&path).unwrap();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let ft = meta.file_type();
        let (kind, content, dest) = if ft.is_symlink() {
            ("symlink", None, Some(fs::read_link(&path).unwrap()))
        } else if ft.is_dir() {
            ("dir", None, None)
        } else {
            let mut bytes = Vec::new();
            fs::File::open(&path)
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            ("file", Some(bytes), None)
        };
        out.insert(
            rel,
            Entry {
                kind,
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                ino: meta.ino(),
                content,
                dest,
                xattrs: if ft.is_symlink() {
                    BTreeMap::new()
                } else {
                    user_xattrs(&path)
                },
            },
        );
        if ft.is_dir() {
            walk(root, &path, out);
        }
    }
}

pub fn user_xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut names = vec![0u8; 4096];
    let len = rustix::fs::listxattr(path, &mut names[..]).unwrap();
    names[..len]
        .split(|&b| b == 0)
        .filter(|n| n.starts_with(b"user."))
        .map(|n| {
            let name = String::from_utf8(n.to_vec()).unwrap();
            let mut value = vec![0u8; 4096];
            let len = rustix::fs::getxattr(path, name.as_str(), &mut value[..]).unwrap();
            value.truncate(len);
            (name, value)
        })
        .collect()
}

pub fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    rustix::fs::setxattr(path, name, value, rustix::fs::XattrFlags::empty()).unwrap();
}

/// `chattr +i` / `chattr -i`.
pub fn set_immutable(path: &Path, on: bool) {
    let file = fs::File::open(path).unwrap();
    let mut flags = rustix::fs::ioctl_getflags(&file).unwrap();
    flags.set(rustix::fs::IFlags::IMMUTABLE, on);
    rustix::fs::ioctl_setflags(&file, flags).unwrap();
}

fn clear_immutable(dir: &Path) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            clear_immutable(&path);
        } else if ft.is_file()
            && let Ok(file) = fs::File::open(&path)
            && let Ok(mut flags) = rustix::fs::ioctl_getflags(&file)
            && flags.contains(rustix::fs::IFlags::IMMUTABLE)
        {
            flags.remove(rustix::fs::IFlags::IMMUTABLE);
            let _ = rustix::fs::ioctl_setflags(&file, flags);
        }
    }
}

/// Commits `plan`, which must succeed.
pub fn commit(engine: &Switchyard, plan: &Plan) -> ApplyReport {
    engine
        .apply(plan, ApplyMode::Commit, &mut MemorySink::default())
        .unwrap_or_else(|e| panic!("apply: {e}"))
}

/// Rolls `plan` back, which must succeed.
pub fn roll_back(engine: &Switchyard, plan: &Plan) -> RollbackReport {
    engine
        .rollback(plan, RollbackOptions::default(), &mut MemorySink::default())
        .unwrap_or_else(|e| panic!("rollback: {e}"))
}

/// An engine with no lock, rescue or health check required.
pub fn permissive() -> Switchyard {
    Switchyard::new(Policy::permissive())
}

/// The machine's BusyBox, the rescue toolset the production tests link into their trees.
pub fn host_busybox() -> PathBuf {
    let path = PathBuf::from("/bin/busybox");
    assert!(
        path.exists(),
        "{} is missing: install the Debian package `busybox` (apt-get install busybox)",
        path.display()
    );
    path
}

/// The environment variable that tells a re-executed test binary to play the child's part of a
/// two-process test; its value is the test's directory.
pub const CHILD_ENV: &str = "SWITCHYARD_TEST_CHILD";

/// Runs the test `test_path` again in a child process, in its child role.
pub fn spawn_child_role(test_path: &str, dir: &Path) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([test_path, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// `Some(dir)` when this process is the child of a two-process test.
pub fn child_role() -> Option<PathBuf> {
    std::env::var_os(CHILD_ENV).map(PathBuf::from)
}

/// Waits (bounded) until `path` exists.
pub fn wait_for(path: &Path, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
