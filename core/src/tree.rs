//! The root and the directories under it, held as file descriptors for the length of one
//! operation, and the set of directories a phase must sync.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use crate::error::{Error, Step};
use crate::sys;

/// An open directory, with where it really is relative to its root (symlinks resolved).
#[derive(Debug)]
pub(crate) struct Dir {
    fd: OwnedFd,
    dev: u64,
    ino: u64,
    real_rel: PathBuf,
}

impl Dir {
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The directory's path relative to its root after every symlink on the way is resolved
    /// (`bin` under merged /usr is really `usr/bin`). Relative link destinations are counted
    /// from here.
    pub(crate) fn real_rel(&self) -> &Path {
        &self.real_rel
    }

    pub(crate) fn dev(&self) -> u64 {
        self.dev
    }

    /// The directory's identity on its filesystem.
    pub(crate) fn key(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }
}

/// A root directory, opened once, with a cache of the directories resolved inside it.
#[derive(Debug)]
pub(crate) struct Root {
    fd: OwnedFd,
    real: PathBuf,
    dirs: HashMap<PathBuf, Rc<Dir>>,
}

impl Root {
    pub(crate) fn open(path: &Path) -> Result<Root, Error> {
        let open_root = |source| Error::OpenRoot {
            root: path.to_owned(),
            source,
        };
        let fd = sys::open_dir(path).map_err(open_root)?;
        let real = sys::fd_path(fd.as_fd()).map_err(open_root)?;
        Ok(Root {
            fd,
            real,
            dirs: HashMap::new(),
        })
    }

    /// The root's absolute path on the host, symlinks resolved.
    pub(crate) fn real(&self) -> &Path {
        &self.real
    }

    /// Resolves `rel` inside the root (`RESOLVE_IN_ROOT`); each path is resolved once per root.
    pub(crate) fn dir(&mut self, rel: &Path) -> io::Result<Rc<Dir>> {
        if let Some(dir) = self.dirs.get(rel) {
            return Ok(Rc::clone(dir));
        }
        let fd = sys::open_dir_in(self.fd.as_fd(), rel)?;
        let dir = Rc::new(self.describe(fd)?);
        self.dirs.insert(rel.to_owned(), Rc::clone(&dir));
        Ok(dir)
    }

    /// What `rel` finally is (symlinks followed inside the root).
    pub(crate) fn stat_following(&self, rel: &Path) -> io::Result<sys::Meta> {
        sys::stat_in(self.fd.as_fd(), rel)
    }

    /// Like [`Root::dir`], creating missing directories (mode 0700) on the way. Used for the
    /// backup store, whose layout mirrors the managed tree. New directories are added to `sync`
    /// so their entries become durable with the phase.
    pub(crate) fn dir_creating(&mut self, rel: &Path, sync: &mut SyncSet) -> io::Result<Rc<Dir>> {
        if let Some(dir) = self.dirs.get(rel) {
            return Ok(Rc::clone(dir));
        }
        let mut current: Rc<Dir> = self.dir(Path::new(""))?;
        let mut walked = PathBuf::new();
        for component in rel.components() {
            let Component::Normal(name) = component else {
                return Err(io::Error::from(io::ErrorKind::InvalidInput));
            };
            walked.push(name);
            if let Some(dir) = self.dirs.get(&walked) {
                current = Rc::clone(dir);
                continue;
            }
            if sys::lstat_at(current.fd(), name)?.is_none() {
                sys::mkdir_at(current.fd(), name, 0o700)?;
                sync.add(&current);
            }
            let fd = sys::open_subdir(current.fd(), name)?;
            let dir = Rc::new(self.describe(fd)?);
            self.dirs.insert(walked.clone(), Rc::clone(&dir));
            current = dir;
        }
        Ok(current)
    }

    fn describe(&self, fd: OwnedFd) -> io::Result<Dir> {
        let meta = sys::fstat(fd.as_fd())?;
        let real = sys::fd_path(fd.as_fd())?;
        let real_rel = match real.strip_prefix(&self.real) {
            Ok(rel) => rel.to_owned(),
            Err(_) if defect!(NoResolveInRoot) => real.clone(),
            Err(_) => return Err(io::Error::other("directory resolved outside the root")),
        };
        Ok(Dir {
            fd,
            dev: meta.dev,
            ino: meta.ino,
            real_rel,
        })
    }
}

/// The type of the filesystem of each directory an operation reports on, looked up once per
/// directory, for facts.
#[derive(Debug, Default)]
pub(crate) struct FsTypes {
    by_dir: HashMap<(u64, u64), Option<String>>,
}

impl FsTypes {
    pub(crate) fn of(&mut self, dir: &Dir) -> Option<String> {
        self.by_dir
            .entry(dir.key())
            .or_insert_with(|| sys::filesystem_type(dir.fd()).ok())
            .clone()
    }
}

/// The directories one phase touched; each is synced once when the phase ends, however many
/// entries in it changed.
#[derive(Debug, Default)]
pub(crate) struct SyncSet {
    dirs: BTreeMap<(u64, u64), Rc<Dir>>,
}

impl SyncSet {
    pub(crate) fn add(&mut self, dir: &Rc<Dir>) {
        self.dirs.entry(dir.key()).or_insert_with(|| Rc::clone(dir));
    }

    /// `fsync` each directory once; the first error is returned (after trying the rest).
    pub(crate) fn sync_dirs(&mut self) -> Result<(), Error> {
        let mut first = None;
        for dir in std::mem::take(&mut self.dirs).into_values() {
            if let Err(source) = sys::fsync(dir.fd()) {
                first.get_or_insert_with(|| sync_error(&dir, source));
            }
        }
        first.map_or(Ok(()), Err)
    }
}

fn sync_error(dir: &Dir, source: io::Error) -> Error {
    Error::Io {
        target: display(dir.real_rel()),
        step: Step::Sync,
        source,
    }
}

/// A relative path as text for facts and messages; the root itself shows as `.`.
pub(crate) fn display(rel: &Path) -> String {
    if rel.as_os_str().is_empty() {
        ".".to_owned()
    } else {
        rel.to_string_lossy().into_owned()
    }
}

/// The link destination for `source` as seen from a link placed in `link_dir`, both relative to
/// the root: `usr/bin` + `opt/uutils/ls` gives `../../opt/uutils/ls`.
pub(crate) fn relative_destination(link_dir: &Path, source: &Path) -> PathBuf {
    let from: Vec<&OsStr> = link_dir.iter().collect();
    let to: Vec<&OsStr> = source.iter().collect();
    // The shared leading components are real directories (link_dir has no symlinks left in it),
    // so the destination may skip them.
    let common = from
        .iter()
        .zip(to.iter())
        .take_while(|(a, b)| a == b)
        .count()
        .min(to.len().saturating_sub(1));
    let mut dest = PathBuf::new();
    for _ in common..from.len() {
        dest.push("..");
    }
    for part in &to[common..] {
        dest.push(part);
    }
    dest
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves: REQ-E6
    #[test]
    fn relative_destinations_climb_to_the_shared_ancestor() {
        let cases = [
            ("usr/bin", "opt/uutils/ls", "../../opt/uutils/ls"),
            ("usr/bin", "usr/lib/uutils/ls", "../lib/uutils/ls"),
            ("", "opt/ls", "opt/ls"),
            ("bin", "bin/real-ls", "real-ls"),
            ("usr/bin", "usr", "../../usr"),
        ];
        for (dir, source, want) in cases {
            assert_eq!(
                relative_destination(Path::new(dir), Path::new(source)),
                Path::new(want),
                "{dir} -> {source}"
            );
        }
    }
}
