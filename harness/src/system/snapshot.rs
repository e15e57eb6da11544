//! Snapshots of a root's files: everything a rollback must give back, entry by entry.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest, Sha256};
use switchyard::{EngineFile, EngineName};

use super::SystemError;

/// One entry: identity, mode (with setuid), owner, size, content hash, link destination,
/// user xattrs and mtime (size and mtime of files and links only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub ino: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub sha256: Option<String>,
    pub dest: Option<String>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    pub mtime: (i64, i64),
}

pub type Snapshot = BTreeMap<String, Entry>;

/// The directories a coreutils switch may touch, and their neighbours.
const SNAPSHOT_DIRS: [&str; 2] = ["usr", "etc"];

/// Every entry under the root's `usr` and `etc`, leaving out the engine's sidecars (which a
/// rollback keeps on purpose). Backups and temporaries stay in: none may remain.
pub fn take(root: &Path) -> Result<Snapshot, SystemError> {
    let mut out = BTreeMap::new();
    for dir in SNAPSHOT_DIRS {
        walk(root, &root.join(dir), &mut out).map_err(|source| SystemError::Io {
            what: "cannot snapshot",
            path: root.join(dir),
            source,
        })?;
    }
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Snapshot) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default();
        if EngineName::parse(name).is_some_and(|n| n.file == EngineFile::Sidecar) {
            continue;
        }
        let meta = fs::symlink_metadata(&path)?;
        let ft = meta.file_type();
        let sha256 = if ft.is_file() {
            let mut hasher = Sha256::new();
            io::copy(&mut fs::File::open(&path)?, &mut hasher)?;
            Some(format!("{:x}", hasher.finalize()))
        } else {
            None
        };
        let dest = if ft.is_symlink() {
            Some(fs::read_link(&path)?.to_string_lossy().into_owned())
        } else {
            None
        };
        let rel = path
            .strip_prefix(root)
            .map_err(io::Error::other)?
            .to_string_lossy()
            .into_owned();
        // A directory's size and mtime change with every entry added or removed, sidecars
        // included; what a rollback gives back is its entries.
        let (size, mtime) = if ft.is_dir() {
            (0, (0, 0))
        } else {
            (meta.size(), (meta.mtime(), meta.mtime_nsec()))
        };
        out.insert(
            rel,
            Entry {
                ino: meta.ino(),
                mode: meta.mode(),
                uid: meta.uid(),
                gid: meta.gid(),
                size,
                sha256,
                dest,
                xattrs: if ft.is_symlink() {
                    BTreeMap::new()
                } else {
                    user_xattrs(&path)?
                },
                mtime,
            },
        );
        if ft.is_dir() {
            walk(root, &path, out)?;
        }
    }
    Ok(())
}

fn user_xattrs(path: &Path) -> io::Result<BTreeMap<String, Vec<u8>>> {
    let mut names = vec![0u8; 64 * 1024];
    let len = rustix::fs::listxattr(path, &mut names[..])?;
    let mut found = BTreeMap::new();
    for name in names[..len]
        .split(|&b| b == 0)
        .filter(|n| n.starts_with(b"user."))
    {
        let name = String::from_utf8_lossy(name).into_owned();
        let mut value = vec![0u8; 64 * 1024];
        let len = rustix::fs::getxattr(path, name.as_str(), &mut value[..])?;
        value.truncate(len);
        found.insert(name, value);
    }
    Ok(found)
}

/// The first few differences between two snapshots, for a failure message.
pub fn differences(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut found = Vec::new();
    for (path, entry) in before {
        match after.get(path) {
            None => found.push(format!("{path}: gone")),
            Some(now) if now != entry => found.push(format!("{path}: was {entry:?}, now {now:?}")),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        found.push(format!("{path}: new"));
    }
    found.truncate(10);
    found
}
