//! `SafePath`: a root plus a relative path that cannot name anything outside the root.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::error::Error;

/// A path inside a root: `root` is where the managed tree lives (`/`, an image, a chroot),
/// `rel` is relative to it, with no `..`, no absolute part and at least one component.
///
/// This is a lexical guarantee only. The engine also resolves every parent directory inside the
/// root (`openat2` with `RESOLVE_IN_ROOT`), so symlinks on the way cannot lead out of it either.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SafePath {
    root: PathBuf,
    rel: PathBuf,
}

impl SafePath {
    /// Checks `rel` and pairs it with `root`. `.` components are dropped.
    ///
    /// ```
    /// use switchyard::SafePath;
    /// let p = SafePath::new("/srv/image", "usr/bin/ls").unwrap();
    /// assert_eq!(p.rel(), std::path::Path::new("usr/bin/ls"));
    /// assert!(SafePath::new("/srv/image", "../etc/passwd").is_err());
    /// assert!(SafePath::new("/srv/image", "/etc/passwd").is_err());
    /// ```
    pub fn new(root: impl Into<PathBuf>, rel: impl AsRef<Path>) -> Result<SafePath, Error> {
        let root = root.into();
        let given = rel.as_ref();
        let unsafe_path = |reason| Error::UnsafePath {
            path: given.to_owned(),
            reason,
        };
        // No system call can name such a path: refuse it here rather than fail mid-swap.
        if root.as_os_str().as_bytes().contains(&0) {
            return Err(Error::UnsafePath {
                path: root,
                reason: "it contains a NUL byte",
            });
        }
        if given.as_os_str().as_bytes().contains(&0) {
            return Err(unsafe_path("it contains a NUL byte"));
        }
        let mut clean = PathBuf::new();
        for component in given.components() {
            match component {
                Component::Normal(name) => clean.push(name),
                Component::CurDir => {}
                Component::ParentDir => return Err(unsafe_path("`..` could leave the root")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(unsafe_path("it must be relative to the root"));
                }
            }
        }
        if clean.as_os_str().is_empty() {
            return Err(unsafe_path(
                "it names the root itself, not an entry inside it",
            ));
        }
        Ok(SafePath { root, rel: clean })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path relative to the root, as facts and sidecars record it.
    pub fn rel(&self) -> &Path {
        &self.rel
    }

    /// The relative path as text, for facts and messages.
    pub fn display_rel(&self) -> String {
        self.rel.to_string_lossy().into_owned()
    }

    /// The relative path of the parent directory (empty for an entry directly in the root).
    pub fn parent_rel(&self) -> &Path {
        self.rel.parent().unwrap_or(Path::new(""))
    }

    /// The final component.
    pub fn file_name(&self) -> &OsStr {
        // `new` guarantees at least one normal component.
        self.rel.file_name().unwrap_or_default()
    }

    /// `root/rel` as a host path, which the host resolves: an absolute link in the root leads out
    /// of it. For reading what a caller names, never for mutating or running it.
    pub fn host_path(&self) -> PathBuf {
        self.root.join(&self.rel)
    }
}

impl fmt::Debug for SafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}::{:?}", self.root, self.rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves: REQ-C1
    #[test]
    fn rejects_escapes_and_empty_paths() {
        for bad in [
            "..",
            "../x",
            "a/../../x",
            "a/..",
            "/etc/passwd",
            "",
            ".",
            "./",
        ] {
            let err = SafePath::new("/r", bad).unwrap_err();
            assert!(
                matches!(err, Error::UnsafePath { .. }),
                "{bad:?} was accepted"
            );
            assert_eq!(err.id(), crate::ErrorId::Policy);
        }
    }

    #[test]
    fn normalises_current_dir_components() {
        let p = SafePath::new("/r", "./usr/./bin/ls").unwrap();
        assert_eq!(p.rel(), Path::new("usr/bin/ls"));
        assert_eq!(p.parent_rel(), Path::new("usr/bin"));
        assert_eq!(p.file_name(), "ls");
        assert_eq!(
            SafePath::new("/r", "ls").unwrap().parent_rel(),
            Path::new("")
        );
    }
}
