//! The backup store's layout: one directory per managed root, mirroring that root's tree.
//!
//! Plan ids leave the root out (the same plan has the same id on any root), so two roots that
//! share a store must not share its directories, or rolling back one would restore the other's
//! files. A root is known by its absolute path with every symlink resolved, escaped into one
//! file name (`/srv/image` → `srv-image`, `/` → `-`, the way `systemd-escape --path` does).
//!
//! Why the path: it is what an administrator means by "the same root", and it survives what
//! happens to the device under it — a remount at the same place, a reboot that renumbers loop
//! devices or btrfs' anonymous device numbers (a `(st_dev, st_ino)` key would orphan every
//! backup there). A filesystem UUID would survive moving the mount elsewhere, but tmpfs and
//! overlayfs have none, and two bind mounts of one filesystem would share it. The cost: a root
//! mounted somewhere else is a different root to the store; move its directory in the store
//! along with it (see [`store_dir_for_root`]).

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::state::hex;

/// Names longer than this are shortened with a digest, below the usual 255-byte limit.
const MAX_KEY: usize = 200;

/// Where a root's backups live in `store`: `store/<escaped absolute path of root>`.
///
/// `root` is resolved as the engine resolves it (symlinks followed), so this names the same
/// directory the engine writes to. It need not exist yet.
pub fn store_dir_for_root(store: &Path, root: &Path) -> io::Result<PathBuf> {
    Ok(store.join(root_key(&std::fs::canonicalize(root)?)))
}

/// The store directory name of a root, from its absolute real path.
pub(crate) fn root_key(real_root: &Path) -> OsString {
    let bytes = real_root.as_os_str().as_bytes();
    let trimmed = bytes.strip_prefix(b"/").unwrap_or(bytes);
    let trimmed = trimmed.strip_suffix(b"/").unwrap_or(trimmed);
    if trimmed.is_empty() {
        return OsString::from("-");
    }
    let mut key = Vec::with_capacity(trimmed.len());
    for (i, &b) in trimmed.iter().enumerate() {
        match b {
            b'/' => key.push(b'-'),
            b'.' if i == 0 => key.extend_from_slice(b"\\x2e"),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b':' => key.push(b),
            _ => key.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    if key.len() > MAX_KEY {
        let digest = hex(&Sha256::digest(bytes));
        key.truncate(MAX_KEY - digest.len() - 1);
        key.push(b'-');
        key.extend_from_slice(digest.as_bytes());
    }
    OsString::from_vec(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_name_and_tell_roots_apart() {
        for (root, key) in [
            ("/", "-"),
            ("/srv/image", "srv-image"),
            ("/srv/image/", "srv-image"),
            ("/a-b", "a\\x2db"),
            ("/a/b", "a-b"),
            ("/.hidden/x y", "\\x2ehidden-x\\x20y"),
        ] {
            assert_eq!(root_key(Path::new(root)), OsString::from(key), "{root}");
        }
        let long = format!("/{}", "d/".repeat(300));
        let key = root_key(Path::new(&long));
        assert_eq!(key.len(), MAX_KEY);
        assert!(!key.as_bytes().contains(&b'/'));
        assert_ne!(key, root_key(Path::new(&format!("{long}e"))));
    }
}
