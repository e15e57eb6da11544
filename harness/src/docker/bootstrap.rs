//! The offline base image: a debootstrap root filesystem imported through the Engine API.
//!
//! For machines that reach a Debian mirror but no image registry. `debootstrap --variant=minbase`
//! with the mkfs tools, busybox and strace included writes a root filesystem into a temporary directory;
//! a tar of it is streamed into the engine's import (`POST /images/create?fromSrc=-`) as
//! `switchyard-fsmatrix-base:bookworm`; the directory is removed on every path.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use bollard::query_parameters::CreateImageOptions;
use futures_util::StreamExt;

use super::error::DockerError;
use super::image::{self, BOOTSTRAP_BASE};

/// Mirror used unless the caller names another.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// The environment variable that names another mirror, for `fsmatrix image bootstrap` and the
/// real-system suite's root alike (a machine that reaches only a local mirror needs it for both).
pub const MIRROR_ENV: &str = "FSMATRIX_DEBIAN_MIRROR";

/// The Debian release of the base.
pub const SUITE: &str = "bookworm";

/// Packages added to `minbase`: the mkfs tools and the engine's rescue toolset.
pub const INCLUDE: &str = "e2fsprogs,btrfs-progs,xfsprogs,busybox,strace";

/// Label on the bootstrapped base image.
pub const BASE_IMAGE_LABEL: &str = "io.switchyard.fsmatrix.base-image";

/// How to bootstrap.
#[derive(Clone, Debug)]
pub struct BootstrapOptions {
    /// Debian mirror for debootstrap.
    pub mirror: String,
    /// Rebuild even when the base image exists.
    pub force: bool,
    /// Where the temporary root filesystem is written (needs ~300 MB).
    pub workdir: PathBuf,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            mirror: DEFAULT_MIRROR.to_owned(),
            force: false,
            workdir: std::env::temp_dir(),
        }
    }
}

/// What a bootstrap did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootstrapOutcome {
    /// The base image was there already; nothing was done.
    AlreadyPresent { id: String },
    /// A new base image was imported.
    Imported { id: String },
}

pub(crate) fn run(
    rt: &tokio::runtime::Runtime,
    api: &bollard::Docker,
    opts: &BootstrapOptions,
    log: &mut dyn FnMut(&str),
) -> Result<BootstrapOutcome, DockerError> {
    if let Some(existing) = rt.block_on(image::inspect(api, BOOTSTRAP_BASE))? {
        let id = existing.id.unwrap_or_default();
        if !opts.force {
            log(&format!(
                "base image {BOOTSTRAP_BASE} already exists ({id}); nothing to do (force to rebuild)"
            ));
            return Ok(BootstrapOutcome::AlreadyPresent { id });
        }
        log(&format!(
            "base image {BOOTSTRAP_BASE} exists ({id}); rebuilding as asked"
        ));
    }

    let program = locate_debootstrap(&search_dirs())?;
    let work = WorkDir::create(&opts.workdir)?;
    let rootfs = work.path().join("rootfs");

    let result = debootstrap(&program, &rootfs, &opts.mirror, INCLUDE, log)
        .and_then(|()| rt.block_on(import(api, &rootfs, log)));
    let closed = work.close();
    let id = result?;
    closed?;
    log(&format!("imported base image {BOOTSTRAP_BASE} ({id})"));
    Ok(BootstrapOutcome::Imported { id })
}

/// `PATH` plus the sbin directories that a non-login root shell may lack.
pub(crate) fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect();
    for extra in ["/usr/sbin", "/sbin"] {
        if !dirs.iter().any(|d| d == Path::new(extra)) {
            dirs.push(PathBuf::from(extra));
        }
    }
    dirs
}

/// Finds an executable `debootstrap` in `dirs`.
pub(crate) fn locate_debootstrap(dirs: &[PathBuf]) -> Result<PathBuf, DockerError> {
    use std::os::unix::fs::PermissionsExt;
    dirs.iter()
        .map(|dir| dir.join("debootstrap"))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .ok_or(DockerError::DebootstrapMissing)
}

/// `debootstrap --variant=minbase --include=INCLUDE` of [`SUITE`] into `rootfs`, its output
/// passed to `log` line by line.
pub(crate) fn debootstrap(
    program: &Path,
    rootfs: &Path,
    mirror: &str,
    include: &str,
    log: &mut dyn FnMut(&str),
) -> Result<(), DockerError> {
    let mut args: Vec<OsString> = vec![
        "--variant=minbase".into(),
        format!("--include={include}").into(),
        SUITE.into(),
    ];
    args.push(rootfs.as_os_str().to_owned());
    args.push(mirror.into());
    log(&format!(
        "running {} {}",
        program.display(),
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    ));

    let mut child = Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| DockerError::Debootstrap {
            status: format!("could not be started: {e}"),
            tail: String::new(),
        })?;

    // Both pipes feed one channel so lines reach the log as they come, in order of arrival.
    let (tx, rx) = mpsc::channel::<String>();
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|pipe| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
    })
    .collect();
    drop(tx);

    let mut tail: Vec<String> = Vec::new();
    for line in rx {
        log(&line);
        tail.push(line);
        if tail.len() > 20 {
            tail.remove(0);
        }
    }
    for reader in readers {
        let _ = reader.join();
    }
    let status = child.wait().map_err(|e| DockerError::Debootstrap {
        status: format!("could not be waited for: {e}"),
        tail: String::new(),
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(DockerError::Debootstrap {
            status: format!("failed ({status})"),
            tail: tail.join("\n"),
        })
    }
}

/// Streams a tar of `rootfs` into the engine's import and returns the new image's id.
async fn import(
    api: &bollard::Docker,
    rootfs: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<String, DockerError> {
    let (repo, tag) = BOOTSTRAP_BASE
        .split_once(':')
        .expect("the base image name has a tag");
    // The tar is written on a plain thread into a bounded channel; the request body reads the
    // channel, so the root filesystem is never held in memory whole.
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    let writer_rootfs = rootfs.to_owned();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let failed = tx.clone();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            write_rootfs_tar(&writer_rootfs, ChannelWriter::new(tx))
        }));
        let error = match outcome {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e,
            Err(_) => std::io::Error::other("the tar writer panicked"),
        };
        // Ending the body with an error aborts the request, so a partial tar is never imported.
        let _ = failed.blocking_send(Err(std::io::Error::new(error.kind(), error.to_string())));
        Err(error)
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item.map(Into::into), rx))
    });

    // bollard's `import_image` is `POST /images/load` (a `docker save` archive); importing a
    // bare root filesystem is `POST /images/create?fromSrc=-`, which `create_image` sends.
    let options = CreateImageOptions {
        from_src: Some("-".to_owned()),
        repo: Some(repo.to_owned()),
        tag: Some(tag.to_owned()),
        message: Some(format!("debootstrap --variant=minbase {SUITE}")),
        changes: vec![
            format!("LABEL {BASE_IMAGE_LABEL}=\"debootstrap {SUITE} minbase\""),
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
            "CMD [\"/bin/bash\"]".to_owned(),
        ],
        ..Default::default()
    };
    log(&format!(
        "importing {} as {BOOTSTRAP_BASE}",
        rootfs.display()
    ));
    let mut stream = api.create_image(Some(options), Some(bollard::body_try_stream(body)), None);
    let mut last_status = String::new();
    let mut failure = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(status) = info.status
                    && status != last_status
                {
                    log(&status);
                    last_status = status;
                }
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                failure = Some(error);
                break;
            }
            Err(e) => {
                failure = Some(crate::error::chain(&e));
                break;
            }
        }
    }
    drop(stream);
    // Joined off the runtime thread: while the writer is blocked on a full channel, only the
    // runtime can drop the request body that unblocks it.
    let written = tokio::task::spawn_blocking(move || writer.join())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_else(|| Err(std::io::Error::other("the tar writer panicked")));
    let message = match (written, failure) {
        (Ok(()), None) => None,
        // The writer saw the request end: the engine's answer says why.
        (Err(e), Some(answer)) if e.kind() == std::io::ErrorKind::BrokenPipe => Some(answer),
        (Err(e), _) => Some(format!("writing the root filesystem tar: {e}")),
        (Ok(()), Some(answer)) => Some(answer),
    };
    if let Some(message) = message {
        return Err(DockerError::Import {
            tag: BOOTSTRAP_BASE.to_owned(),
            message,
        });
    }
    let image = image::inspect(api, BOOTSTRAP_BASE)
        .await?
        .ok_or_else(|| DockerError::Import {
            tag: BOOTSTRAP_BASE.to_owned(),
            message: "the engine reported success but the image is missing".to_owned(),
        })?;
    Ok(image.id.unwrap_or_default())
}

/// Writes the root filesystem as a tar: sorted, symlinks kept as symlinks, owners and modes as
/// on disk; downloaded `.deb` files of the apt cache and special files are left out.
fn write_rootfs_tar(rootfs: &Path, out: ChannelWriter) -> std::io::Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    builder.mode(tar::HeaderMode::Complete);
    append_tree(&mut builder, rootfs, Path::new(""))?;
    let mut out = builder.into_inner()?;
    out.flush()
}

fn append_tree(
    builder: &mut tar::Builder<ChannelWriter>,
    dir: &Path,
    name: &Path,
) -> std::io::Result<()> {
    let mut children: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    children.sort_by_key(|c| c.file_name());
    for child in children {
        let path = child.path();
        let inner = name.join(child.file_name());
        let kind = child.file_type()?;
        if inner.starts_with("var/cache/apt/archives")
            && inner.extension().is_some_and(|e| e == "deb")
        {
            continue;
        }
        // Device nodes, fifos and sockets stay out: the engine mounts a fresh /dev over the
        // image's anyway (and tar 0.4's `append_path_with_name` names special files by their
        // host path, which it then refuses as absolute).
        if kind.is_char_device() || kind.is_block_device() || kind.is_fifo() || kind.is_socket() {
            continue;
        }
        builder
            .append_path_with_name(&path, &inner)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        if kind.is_dir() {
            append_tree(builder, &path, &inner)?;
        }
    }
    Ok(())
}

/// A `Write` that hands 1 MiB chunks to the async side.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    const CHUNK: usize = 1 << 20;

    fn new(tx: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(Self::CHUNK),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(Self::CHUNK));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the engine stopped reading the import",
            )
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= Self::CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The bootstrap's temporary directory; removed on drop, or checked by [`WorkDir::close`].
struct WorkDir {
    path: PathBuf,
    armed: bool,
}

impl WorkDir {
    fn create(parent: &Path) -> Result<WorkDir, DockerError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = parent.join(format!(
            "switchyard-bootstrap-{}-{nanos:09}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).map_err(|source| DockerError::Workdir {
            path: path.clone(),
            source,
        })?;
        Ok(WorkDir { path, armed: true })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn close(mut self) -> Result<(), DockerError> {
        self.armed = false;
        remove_workdir(&self.path)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.armed
            && let Err(e) = remove_workdir(&self.path)
        {
            eprintln!("warning: {e}");
        }
    }
}

/// Detaches whatever debootstrap left mounted below `path` (a failed run can leave `proc` or
/// `sys` mounted), deepest first, then deletes the tree. A mount that will not go keeps the tree,
/// so the host's `/proc` or `/sys` is never walked for deletion.
fn remove_workdir(path: &Path) -> Result<(), DockerError> {
    let mut mounts = mounts_below(path);
    mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    for mount in &mounts {
        let _ = rustix::mount::unmount(mount, rustix::mount::UnmountFlags::DETACH);
    }
    if let Some(mount) = mounts_below(path).into_iter().next() {
        return Err(DockerError::WorkdirBusy {
            path: path.to_owned(),
            mount,
        });
    }
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(DockerError::Workdir {
            path: path.to_owned(),
            source,
        }),
    }
}

fn mounts_below(path: &Path) -> Vec<PathBuf> {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|mount| mount.starts_with(path) && mount != path)
        .collect()
}

/// Mount points in mountinfo escape space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(digits) = bytes.get(i + 1..i + 4)
            && let Ok(digits) = std::str::from_utf8(digits)
            && let Ok(code) = u8::from_str_radix(digits, 8)
        {
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    PathBuf::from(OsString::from_vec(out))
}
