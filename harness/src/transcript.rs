//! The canonical transcript of a trial: the engine's redacted facts interleaved with a canonical
//! snapshot of the tree after each step. Byte-stable across runs and filesystems: no mount
//! points, device numbers, inode numbers or times.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};
use switchyard::Fact;

/// A transcript being written, one JSON object per line.
#[derive(Debug, Default)]
pub struct Transcript {
    text: String,
}

impl Transcript {
    pub fn new() -> Transcript {
        Transcript::default()
    }

    pub fn line(&mut self, value: &impl Serialize) {
        // Values here are plain structs and maps of strings and numbers.
        self.text
            .push_str(&serde_json::to_string(value).unwrap_or_default());
        self.text.push('\n');
    }

    pub fn facts(&mut self, facts: &[Fact]) {
        for fact in facts {
            self.text.push_str(&fact.canonical().to_json_line());
            self.text.push('\n');
        }
    }

    pub fn snapshot(&mut self, snapshot: &Snapshot) {
        for entry in snapshot.values() {
            self.line(entry);
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn into_string(self) -> String {
        self.text
    }
}

/// One object of a tree snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotEntry {
    pub path: String,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    pub uid: u32,
    pub gid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub xattrs: BTreeMap<String, String>,
}

/// Entries by path, in byte order of the path.
pub type Snapshot = BTreeMap<String, SnapshotEntry>;

/// Everything under `dir`, with paths relative to it prefixed by `prefix` (empty for the
/// scenario root, `@store/` for a backup store). Symlinks are never followed.
pub fn snapshot(dir: &Path, prefix: &str) -> io::Result<Snapshot> {
    let mut out = Snapshot::new();
    walk(dir, dir, prefix, &mut out)?;
    Ok(out)
}

fn walk(base: &Path, dir: &Path, prefix: &str, out: &mut Snapshot) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let meta = fs::symlink_metadata(&path)?;
        let rel = path
            .strip_prefix(base)
            .map_err(io::Error::other)?
            .to_string_lossy()
            .into_owned();
        let rel = format!("{prefix}{rel}");
        let ft = meta.file_type();
        let mut item = SnapshotEntry {
            path: rel.clone(),
            kind: "file",
            mode: Some(format!("{:04o}", meta.mode() & 0o7777)),
            uid: meta.uid(),
            gid: meta.gid(),
            dest: None,
            size: None,
            sha256: None,
            xattrs: BTreeMap::new(),
        };
        if ft.is_symlink() {
            item.kind = "symlink";
            // Symlink permission bits are meaningless (always 0777 on Linux).
            item.mode = None;
            item.dest = Some(fs::read_link(&path)?.to_string_lossy().into_owned());
        } else if ft.is_dir() {
            item.kind = "dir";
            item.xattrs = user_xattrs(&path)?;
            walk(base, &path, prefix, out)?;
        } else if ft.is_file() {
            item.size = Some(meta.len());
            item.sha256 = Some(sha256_file(&path)?);
            item.xattrs = user_xattrs(&path)?;
        } else {
            item.kind = "other";
        }
        out.insert(rel, item);
    }
    Ok(())
}

pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut file = fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The `user.*` extended attributes of a file or directory (other namespaces are the
/// filesystem's or the security module's, and differ between filesystems).
pub fn user_xattrs(path: &Path) -> io::Result<BTreeMap<String, String>> {
    let size = rustix::fs::listxattr_query(path)?;
    let mut names = vec![0u8; size];
    let len = rustix::fs::listxattr(path, &mut names[..])?;
    let mut out = BTreeMap::new();
    for name in names[..len].split(|&b| b == 0) {
        if !name.starts_with(b"user.") {
            continue;
        }
        let name = String::from_utf8_lossy(name).into_owned();
        let size = rustix::fs::getxattr_query(path, name.as_str())?;
        let mut value = vec![0u8; size];
        let len = rustix::fs::getxattr(path, name.as_str(), &mut value[..])?;
        value.truncate(len);
        out.insert(name, String::from_utf8_lossy(&value).into_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    /// Proves: REQ-C4
    #[test]
    fn snapshot_records_kinds_modes_links_and_hashes_without_volatile_fields() {
        let dir = Path::new("/tmp/fsmatrix-unit-tests/transcript-snapshot");
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir.join("usr/bin")).unwrap();
        fs::write(dir.join("usr/bin/ls"), "GNU ls\n").unwrap();
        fs::set_permissions(dir.join("usr/bin/ls"), fs::Permissions::from_mode(0o4755)).unwrap();
        fs::set_permissions(dir.join("usr/bin"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(dir.join("usr"), fs::Permissions::from_mode(0o755)).unwrap();
        symlink("ls", dir.join("usr/bin/dir")).unwrap();
        let snap = snapshot(dir, "").unwrap();
        let paths: Vec<_> = snap.keys().map(String::as_str).collect();
        assert_eq!(paths, ["usr", "usr/bin", "usr/bin/dir", "usr/bin/ls"]);
        let mut t = Transcript::new();
        t.snapshot(&snap);
        assert_eq!(
            t.as_str(),
            concat!(
                r#"{"path":"usr","kind":"dir","mode":"0755","uid":0,"gid":0}"#,
                "\n",
                r#"{"path":"usr/bin","kind":"dir","mode":"0755","uid":0,"gid":0}"#,
                "\n",
                r#"{"path":"usr/bin/dir","kind":"symlink","uid":0,"gid":0,"dest":"ls"}"#,
                "\n",
                r#"{"path":"usr/bin/ls","kind":"file","mode":"4755","uid":0,"gid":0,"size":7,"#,
                r#""sha256":"52f8980023c90e649ac755aaf1d516ebfb21937bf394c19e2472d7e0c0b3c31b"}"#,
                "\n",
            )
        );
    }
}
