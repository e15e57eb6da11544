//! The runner image's build context: a deterministic in-memory tar whose sha256 names the image.
//!
//! The context holds `Dockerfile`, `fsmatrix`, `scenarios/` and `golden/`. Entries are sorted by
//! path; owner, group and mtime are zero; modes are normalised (directories and the binary 0755,
//! other files 0644). Only content and names reach the hash, so the same inputs give the same tag
//! on any machine and after any `touch`.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::DockerError;

/// The Dockerfile shipped in `docker/`, compiled in so the binary carries it.
pub const DOCKERFILE: &str = include_str!("../../../docker/Dockerfile");

/// Repository of runner images; the tag is the context hash.
pub const RUNNER_REPO: &str = "switchyard-fsmatrix";

/// What goes into the runner image.
#[derive(Clone, Debug)]
pub struct BuildInputs {
    /// The binary copied to `/usr/local/bin/fsmatrix` (normally `std::env::current_exe()`).
    pub fsmatrix: PathBuf,
    /// Directory of scenario files, copied to `/opt/fsmatrix/scenarios`.
    pub scenarios: PathBuf,
    /// Directory of golden transcripts, copied to `/opt/fsmatrix/golden`.
    pub golden: PathBuf,
    /// Text of the Dockerfile; [`DOCKERFILE`] unless replaced.
    pub dockerfile: String,
}

impl BuildInputs {
    pub fn new(
        fsmatrix: impl Into<PathBuf>,
        scenarios: impl Into<PathBuf>,
        golden: impl Into<PathBuf>,
    ) -> Self {
        BuildInputs {
            fsmatrix: fsmatrix.into(),
            scenarios: scenarios.into(),
            golden: golden.into(),
            dockerfile: DOCKERFILE.to_owned(),
        }
    }

    /// Replaces the shipped Dockerfile (tests, experiments).
    pub fn with_dockerfile(mut self, text: impl Into<String>) -> Self {
        self.dockerfile = text.into();
        self
    }
}

/// A finished build context: the tar bytes and their sha256.
#[derive(Clone)]
pub struct BuildContext {
    tar: Vec<u8>,
    sha256: String,
}

impl std::fmt::Debug for BuildContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildContext")
            .field("len", &self.tar.len())
            .field("sha256", &self.sha256)
            .finish()
    }
}

enum Entry {
    Dir,
    File { data: Vec<u8>, mode: u32 },
}

impl BuildContext {
    /// Reads the inputs and packs them. Symlinks inside the directories are followed.
    pub fn from_inputs(inputs: &BuildInputs) -> Result<BuildContext, DockerError> {
        let mut entries: Vec<(String, Entry)> = vec![
            (
                "Dockerfile".to_owned(),
                Entry::File {
                    data: inputs.dockerfile.clone().into_bytes(),
                    mode: 0o644,
                },
            ),
            (
                "fsmatrix".to_owned(),
                Entry::File {
                    data: read(&inputs.fsmatrix)?,
                    mode: 0o755,
                },
            ),
        ];
        collect_dir(&inputs.scenarios, "scenarios", &mut entries)?;
        collect_dir(&inputs.golden, "golden", &mut entries)?;
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));

        let tar = pack(&entries).map_err(|source| DockerError::BuildInput {
            path: PathBuf::from("<build context>"),
            source,
        })?;
        let sha256 = hex(&Sha256::digest(&tar));
        Ok(BuildContext { tar, sha256 })
    }

    /// Full hex sha256 of the tar.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// `switchyard-fsmatrix:<first 16 hex digits of the sha256>`.
    pub fn tag(&self) -> String {
        format!("{RUNNER_REPO}:{}", &self.sha256[..16])
    }

    pub fn len(&self) -> usize {
        self.tar.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tar.is_empty()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.tar
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.tar
    }
}

fn read(path: &Path) -> Result<Vec<u8>, DockerError> {
    fs::read(path).map_err(|source| DockerError::BuildInput {
        path: path.to_owned(),
        source,
    })
}

fn collect_dir(
    dir: &Path,
    name: &str,
    entries: &mut Vec<(String, Entry)>,
) -> Result<(), DockerError> {
    let meta = fs::metadata(dir).map_err(|source| DockerError::BuildInput {
        path: dir.to_owned(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(DockerError::UnsupportedInput {
            path: dir.to_owned(),
            what: "not a directory",
        });
    }
    entries.push((name.to_owned(), Entry::Dir));
    let listing = fs::read_dir(dir).map_err(|source| DockerError::BuildInput {
        path: dir.to_owned(),
        source,
    })?;
    for item in listing {
        let item = item.map_err(|source| DockerError::BuildInput {
            path: dir.to_owned(),
            source,
        })?;
        let path = item.path();
        let Some(file_name) = item.file_name().to_str().map(str::to_owned) else {
            return Err(DockerError::UnsupportedInput {
                path,
                what: "named in non-UTF-8",
            });
        };
        let inner = format!("{name}/{file_name}");
        let meta = fs::metadata(&path).map_err(|source| DockerError::BuildInput {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            collect_dir(&path, &inner, entries)?;
        } else if meta.is_file() {
            let data = read(&path)?;
            entries.push((inner, Entry::File { data, mode: 0o644 }));
        } else {
            return Err(DockerError::UnsupportedInput {
                path,
                what: "neither a regular file nor a directory",
            });
        }
    }
    Ok(())
}

fn pack(entries: &[(String, Entry)]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, entry) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        match entry {
            Entry::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_data(&mut header, format!("{path}/"), std::io::empty())?;
            }
            Entry::File { data, mode } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, path, data.as_slice())?;
            }
        }
    }
    builder.into_inner()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
