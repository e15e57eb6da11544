//! Building a scenario's tree, changing it mid-scenario (`write`), and comparing it (`check`).

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt, lchown, symlink};
use std::path::Path;

use crate::scenario::{CheckEntry, Entry, EntryKind, PartialEntry, WriteEntry};
use crate::transcript::user_xattrs;

const DEFAULT_FILE_MODE: u32 = 0o644;
const DEFAULT_DIR_MODE: u32 = 0o755;

/// Puts `entry` at `root/rel`, replacing whatever is there; missing parents become 0755
/// directories. Modes are set explicitly, so the umask does not matter.
pub(crate) fn put(root: &Path, rel: &str, entry: &Entry) -> io::Result<()> {
    let path = root.join(rel);
    make_parents(root, rel)?;
    remove(root, rel)?;
    match &entry.kind {
        EntryKind::File { content } => fs::write(&path, content)?,
        EntryKind::Symlink { destination } => symlink(destination, &path)?,
        EntryKind::Dir => fs::create_dir(&path)?,
    }
    if let Some(owner) = entry.owner {
        lchown(&path, Some(owner.uid), Some(owner.gid))?;
    }
    // After chown, which clears setuid and setgid.
    let mode = match entry.kind {
        EntryKind::File { .. } => Some(entry.mode.map_or(DEFAULT_FILE_MODE, |m| m.bits())),
        EntryKind::Dir => Some(entry.mode.map_or(DEFAULT_DIR_MODE, |m| m.bits())),
        EntryKind::Symlink { .. } => None,
    };
    if let Some(mode) = mode {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
    }
    for (name, value) in &entry.xattrs {
        rustix::fs::lsetxattr(
            &path,
            name.as_str(),
            value.as_bytes(),
            rustix::fs::XattrFlags::empty(),
        )?;
    }
    Ok(())
}

/// Applies one `write` entry.
pub(crate) fn write(root: &Path, rel: &str, entry: &WriteEntry) -> io::Result<()> {
    match entry {
        WriteEntry::Put(entry) => put(root, rel, entry),
        WriteEntry::Remove => remove(root, rel),
    }
}

/// Removes whatever is at `root/rel` (a directory with its contents); absent is fine.
pub(crate) fn remove(root: &Path, rel: &str) -> io::Result<()> {
    let path = root.join(rel);
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(&path),
        Ok(_) => fs::remove_file(&path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn make_parents(root: &Path, rel: &str) -> io::Result<()> {
    let mut dir = root.to_owned();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len() - 1] {
        dir.push(part);
        match fs::symlink_metadata(&dir) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&dir)?;
                fs::set_permissions(&dir, fs::Permissions::from_mode(DEFAULT_DIR_MODE))?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Compares `root/rel` with what a `check` names; `Err` says what differs.
pub(crate) fn check(root: &Path, rel: &str, expected: &CheckEntry) -> Result<(), String> {
    let path = root.join(rel);
    let meta = match fs::symlink_metadata(&path) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{rel}: cannot inspect: {e}")),
    };
    let (want, meta) = match (expected, meta) {
        (CheckEntry::Absent, None) => return Ok(()),
        (CheckEntry::Absent, Some(meta)) => {
            return Err(format!(
                "{rel}: expected absent, found a {}",
                kind_of(&meta)
            ));
        }
        (CheckEntry::Present(_), None) => {
            return Err(format!("{rel}: expected it to exist, it is absent"));
        }
        (CheckEntry::Present(want), Some(meta)) => (want, meta),
    };
    let mut problems = Vec::new();
    compare(&path, &meta, want, &mut problems)
        .map_err(|e| format!("{rel}: cannot inspect: {e}"))?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{rel}: {}", problems.join("; ")))
    }
}

fn compare(
    path: &Path,
    meta: &fs::Metadata,
    want: &PartialEntry,
    problems: &mut Vec<String>,
) -> io::Result<()> {
    let ft = meta.file_type();
    match &want.kind {
        None => {}
        Some(EntryKind::File { content }) if ft.is_file() => {
            let actual = fs::read(path)?;
            if actual != content.as_bytes() {
                problems.push(format!(
                    "content differs: expected {content:?}, found {:?}",
                    String::from_utf8_lossy(&actual)
                ));
            }
        }
        Some(EntryKind::Symlink { destination }) if ft.is_symlink() => {
            let actual = fs::read_link(path)?;
            if actual != Path::new(destination) {
                problems.push(format!(
                    "expected a symlink to `{destination}`, found one to `{}`",
                    actual.display()
                ));
            }
        }
        Some(EntryKind::Dir) if ft.is_dir() => {}
        Some(kind) => {
            let found = if ft.is_symlink() {
                format!("a symlink to `{}`", fs::read_link(path)?.display())
            } else {
                format!("a {}", kind_of(meta))
            };
            let wanted = match kind {
                EntryKind::File { .. } => "a regular file".to_owned(),
                EntryKind::Symlink { destination } => format!("a symlink to `{destination}`"),
                EntryKind::Dir => "a directory".to_owned(),
            };
            problems.push(format!("expected {wanted}, found {found}"));
        }
    }
    if let Some(mode) = want.mode {
        let actual = meta.mode() & 0o7777;
        if actual != mode.bits() {
            problems.push(format!("mode is {actual:04o}, expected {mode}"));
        }
    }
    if let Some(owner) = want.owner
        && (meta.uid(), meta.gid()) != (owner.uid, owner.gid)
    {
        problems.push(format!(
            "owner is {}:{}, expected {owner}",
            meta.uid(),
            meta.gid()
        ));
    }
    if let Some(xattrs) = &want.xattrs {
        let actual = user_xattrs(path)?;
        if &actual != xattrs {
            problems.push(format!("user xattrs are {actual:?}, expected {xattrs:?}"));
        }
    }
    Ok(())
}

fn kind_of(meta: &fs::Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "directory"
    } else if ft.is_file() {
        "regular file"
    } else {
        "special file"
    }
}
