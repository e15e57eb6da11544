//! One run of `fsmatrix` in a container: create, attach, start, stream, wait, remove.
//!
//! The container gets the least privilege that the trials need — `CAP_SYS_ADMIN`, `CAP_MKNOD`,
//! the device-cgroup rule `b 7:* rwm` and `/dev/loop-control` (the loop nodes are made inside
//! with mknod) for loop-mounting, `/dev/fuse` (rule `c 10:229 rwm`) for the recorded disks of
//! recorded crash trials, and `CAP_LINUX_IMMUTABLE` for the immutable-file fault — and
//! is not privileged. It has no network, and the host's output
//! directory is bound at `/out`. A guard removes the container on every path: success, failure,
//! an error of ours, a panic in the output callback, and cancel (stop with a grace period so the
//! inner run tears its mounts and loop devices down, then remove).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::models::{ContainerCreateBody, DeviceMapping, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::error::{DockerError, is_not_found};
use super::image::RunnerImage;
use crate::signal::Cancel;

/// Label on every container the harness creates.
pub const OWNER_LABEL: &str = "io.switchyard.fsmatrix";

/// Label naming the run a container belongs to.
pub const RUN_LABEL: &str = "io.switchyard.fsmatrix.run";

/// Label naming the host work directory of that run: `clean` of another work directory never
/// touches the container.
pub const WORK_DIR_LABEL: &str = "io.switchyard.fsmatrix.work-dir";

/// Where the host's output directory appears inside the container.
pub const OUT_MOUNT: &str = "/out";

/// How often the cancel flag is looked at while output is streamed.
const CANCEL_POLL: Duration = Duration::from_millis(100);

/// How long output is still read after a stop, before the container is removed regardless.
const DRAIN_AFTER_STOP: Duration = Duration::from_secs(5);

/// One run inside a container.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// Names the run in the container's labels and in errors.
    pub run_id: String,
    /// The host work directory of the run, as the kernel names it; in the container's labels.
    pub work_dir: PathBuf,
    /// Arguments to `fsmatrix` (the image's entrypoint).
    pub args: Vec<String>,
    /// Host directory bound at `/out`; created when missing.
    pub out_dir: PathBuf,
    /// Time between SIGTERM and SIGKILL when a cancelled run is stopped.
    pub stop_grace: Duration,
}

impl RunSpec {
    pub fn new(
        run_id: impl Into<String>,
        work_dir: impl Into<PathBuf>,
        args: Vec<String>,
        out_dir: impl Into<PathBuf>,
    ) -> Self {
        RunSpec {
            run_id: run_id.into(),
            work_dir: work_dir.into(),
            args,
            out_dir: out_dir.into(),
            stop_grace: Duration::from_secs(10),
        }
    }
}

pub(crate) fn run(
    rt: &tokio::runtime::Runtime,
    api: &bollard::Docker,
    image: &RunnerImage,
    spec: &RunSpec,
    apparmor: bool,
    cancel: &Cancel,
    output: &mut dyn FnMut(&[u8]),
) -> Result<i64, DockerError> {
    let out_dir = prepare_out_dir(&spec.out_dir)?;
    let config = container_config(image, spec, &out_dir, apparmor);
    let created = rt
        .block_on(api.create_container(None, config))
        .map_err(DockerError::api("create container"))?;

    // From here the guard owns the container. It lives outside `block_on`, so that a panic in
    // `output` unwinds out of the runtime first and the guard can then block on the removal.
    let guard = ContainerGuard {
        rt,
        api,
        id: created.id,
        grace: spec.stop_grace,
        armed: true,
    };
    let outcome = rt.block_on(drive(api, &guard.id, spec, cancel, output));
    let removed = guard.remove();
    match (outcome, removed) {
        (Ok(code), Ok(())) => Ok(code),
        (Err(e), Ok(())) | (Ok(_), Err(e)) => Err(e),
        (Err(e), Err(removal)) => {
            eprintln!("warning: {removal}");
            Err(e)
        }
    }
}

fn prepare_out_dir(dir: &Path) -> Result<PathBuf, DockerError> {
    let fail = |source| DockerError::OutDir {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    dir.canonicalize().map_err(fail)
}

pub(crate) fn container_config(
    image: &RunnerImage,
    spec: &RunSpec,
    out_dir: &Path,
    apparmor: bool,
) -> ContainerCreateBody {
    let labels = HashMap::from([
        (OWNER_LABEL.to_owned(), "1".to_owned()),
        (RUN_LABEL.to_owned(), spec.run_id.clone()),
        (
            WORK_DIR_LABEL.to_owned(),
            spec.work_dir.to_string_lossy().into_owned(),
        ),
    ]);
    let host_config = HostConfig {
        cap_add: Some(vec![
            "SYS_ADMIN".to_owned(),
            "MKNOD".to_owned(),
            "LINUX_IMMUTABLE".to_owned(),
        ]),
        device_cgroup_rules: Some(vec!["b 7:* rwm".to_owned(), "c 10:229 rwm".to_owned()]),
        devices: Some(
            ["/dev/loop-control", "/dev/fuse"]
                .map(|path| DeviceMapping {
                    path_on_host: Some(path.to_owned()),
                    path_in_container: Some(path.to_owned()),
                    cgroup_permissions: Some("rwm".to_owned()),
                })
                .to_vec(),
        ),
        // Docker's AppArmor profile denies mount(2) whatever the capabilities; where the engine
        // enforces AppArmor, the container runs unconfined by it (still not privileged).
        security_opt: apparmor.then(|| vec!["apparmor=unconfined".to_owned()]),
        mounts: Some(vec![Mount {
            typ: Some(MountType::BIND),
            source: Some(out_dir.to_string_lossy().into_owned()),
            target: Some(OUT_MOUNT.to_owned()),
            read_only: Some(false),
            ..Default::default()
        }]),
        network_mode: Some("none".to_owned()),
        privileged: Some(false),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(image.tag.clone()),
        cmd: Some(spec.args.clone()),
        labels: Some(labels),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        host_config: Some(host_config),
        ..Default::default()
    }
}

/// Attach, start, stream until the output ends or the run is cancelled, then wait.
async fn drive(
    api: &bollard::Docker,
    id: &str,
    spec: &RunSpec,
    cancel: &Cancel,
    output: &mut dyn FnMut(&[u8]),
) -> Result<i64, DockerError> {
    // Attached before the start, so not a byte of output is missed.
    let attach = AttachContainerOptionsBuilder::default()
        .stream(true)
        .stdout(true)
        .stderr(true)
        .logs(true)
        .build();
    let mut stream = api
        .attach_container(id, Some(attach))
        .await
        .map_err(DockerError::api("attach container"))?
        .output;
    if cancel.is_cancelled() {
        return Err(cancelled(spec, id));
    }
    api.start_container(id, None)
        .await
        .map_err(DockerError::api("start container"))?;

    let mut tick = tokio::time::interval(CANCEL_POLL);
    loop {
        tokio::select! {
            item = stream.next() => match item {
                Some(Ok(chunk)) => output(chunk.as_ref()),
                Some(Err(source)) => return Err(DockerError::Api { op: "read container output", source }),
                None => break,
            },
            _ = tick.tick() => {
                if cancel.is_cancelled() {
                    stop(api, id, spec.stop_grace).await?;
                    // What the run printed while tearing down is still worth showing.
                    let _ = tokio::time::timeout(DRAIN_AFTER_STOP, async {
                        while let Some(Ok(chunk)) = stream.next().await {
                            output(chunk.as_ref());
                        }
                    })
                    .await;
                    return Err(cancelled(spec, id));
                }
            }
        }
    }
    wait(api, id).await
}

async fn stop(api: &bollard::Docker, id: &str, grace: Duration) -> Result<(), DockerError> {
    let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
    let options = StopContainerOptionsBuilder::default().t(seconds).build();
    match api.stop_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        // 304: already stopped; 404: already gone.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304 | 404,
            ..
        }) => Ok(()),
        Err(source) => Err(DockerError::Api {
            op: "stop container",
            source,
        }),
    }
}

async fn wait(api: &bollard::Docker, id: &str) -> Result<i64, DockerError> {
    let options = WaitContainerOptionsBuilder::default()
        .condition("not-running")
        .build();
    let mut waits = api.wait_container(id, Some(options));
    match waits.next().await {
        Some(Ok(response)) => Ok(response.status_code),
        // bollard reports a non-zero exit as an error; for us it is the answer.
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(source)) => Err(DockerError::Api {
            op: "wait container",
            source,
        }),
        None => Err(DockerError::Api {
            op: "wait container",
            source: bollard::errors::Error::DockerStreamError {
                error: "the engine closed the wait without an exit code".to_owned(),
            },
        }),
    }
}

fn cancelled(spec: &RunSpec, id: &str) -> DockerError {
    DockerError::Cancelled {
        run_id: spec.run_id.clone(),
        container: short(id).to_owned(),
    }
}

pub(crate) fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// Force-removes a container with its anonymous volumes; a container already gone is fine.
pub(crate) async fn remove(api: &bollard::Docker, id: &str) -> Result<(), DockerError> {
    let options = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    match api.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(source) => Err(DockerError::Remove {
            container: short(id).to_owned(),
            source,
        }),
    }
}

/// Stops a container that may still run, giving it `grace` to tear down, then removes it.
async fn stop_and_remove(
    api: &bollard::Docker,
    id: &str,
    grace: Duration,
) -> Result<(), DockerError> {
    // A failed stop is not final: the forced removal kills what is left.
    let _ = stop(api, id, grace).await;
    remove(api, id).await
}

/// Owns a created container until it is removed.
struct ContainerGuard<'a> {
    rt: &'a tokio::runtime::Runtime,
    api: &'a bollard::Docker,
    id: String,
    grace: Duration,
    armed: bool,
}

impl ContainerGuard<'_> {
    /// Removes the container and reports whether that worked.
    fn remove(mut self) -> Result<(), DockerError> {
        self.armed = false;
        self.rt
            .block_on(stop_and_remove(self.api, &self.id, self.grace))
    }
}

impl Drop for ContainerGuard<'_> {
    /// Reached only when `run` unwinds (a panic in the output callback): the run still gets its
    /// grace period to release mounts and loop devices before the container goes.
    fn drop(&mut self) {
        if self.armed
            && let Err(e) = self
                .rt
                .block_on(stop_and_remove(self.api, &self.id, self.grace))
        {
            eprintln!("warning: {e}");
        }
    }
}
