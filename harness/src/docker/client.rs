//! The synchronous face of the docker runner: one engine connection plus the runtime that drives it.
//!
//! The rest of the harness is synchronous, so [`Docker`] owns a current-thread tokio runtime and
//! blocks on it for each operation. Do not call it from inside another async runtime.

use std::time::Duration;

use bollard::BollardRequest;

use super::bootstrap::{self, BootstrapOptions, BootstrapOutcome};
use super::clean::{self, CleanOptions, CleanReport};
use super::container::{self, RunSpec};
use super::context::BuildInputs;
use super::error::DockerError;
use super::image::{self, RunnerImage};
use crate::signal::Cancel;

/// Socket used when `DOCKER_HOST` is not set.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// How long the first contact with the engine may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Time allowed for the engine to start answering a request (streams then run unbounded).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// A connection to the Docker engine, with the API version negotiated.
#[derive(Debug)]
pub struct Docker {
    rt: tokio::runtime::Runtime,
    api: bollard::Docker,
    host: String,
    api_version: String,
    engine_version: String,
    apparmor: bool,
}

impl Docker {
    /// Connects to `DOCKER_HOST`, or to the default socket.
    pub fn connect() -> Result<Docker, DockerError> {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| DEFAULT_HOST.to_owned());
        Docker::connect_to(&host)
    }

    /// Connects to `host` (`unix://…`, `tcp://…`) and negotiates the API version: the client's
    /// newest version, lowered to the engine's when the engine is older.
    pub fn connect_to(host: &str) -> Result<Docker, DockerError> {
        let unreachable = |reason: String| DockerError::Unreachable {
            host: host.to_owned(),
            reason,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(DockerError::Runtime)?;
        let api = bollard::Docker::connect_with_host(host)
            .map_err(|e| unreachable(e.to_string()))?
            .with_timeout(REQUEST_TIMEOUT)
            .with_request_modifier(unversioned_version_probe);

        let (api, engine, info) = rt.block_on(async move {
            let negotiated = tokio::time::timeout(CONNECT_TIMEOUT, api.negotiate_version())
                .await
                .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
                .map_err(|e| unreachable(e.to_string()))?;
            let engine = negotiated
                .version()
                .await
                .map_err(DockerError::api("version"))?;
            let info = negotiated.info().await.map_err(DockerError::api("info"))?;
            Ok::<_, DockerError>((negotiated, engine, info))
        })?;

        let apparmor = info
            .security_options
            .unwrap_or_default()
            .iter()
            .any(|opt| opt.contains("name=apparmor"));
        Ok(Docker {
            api_version: api.client_version().to_string(),
            engine_version: engine.version.unwrap_or_default(),
            rt,
            api,
            host: host.to_owned(),
            apparmor,
        })
    }

    /// The address connected to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The API version in use after negotiation (e.g. `1.41` against a 20.10 engine).
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// The engine's own version string.
    pub fn engine_version(&self) -> &str {
        &self.engine_version
    }

    /// Builds the runner image from `inputs` unless an image with the same content hash exists.
    /// Progress and build output go to `log`, one line per call.
    pub fn ensure_runner_image(
        &self,
        inputs: &BuildInputs,
        log: &mut dyn FnMut(&str),
    ) -> Result<RunnerImage, DockerError> {
        self.rt.block_on(image::ensure(&self.api, inputs, log))
    }

    /// Whether the engine has an image of that name.
    pub fn has_image(&self, name: &str) -> Result<bool, DockerError> {
        Ok(self.rt.block_on(image::inspect(&self.api, name))?.is_some())
    }

    /// Makes the offline base image `switchyard-fsmatrix-base:bookworm` with debootstrap.
    pub fn bootstrap_base(
        &self,
        opts: &BootstrapOptions,
        log: &mut dyn FnMut(&str),
    ) -> Result<BootstrapOutcome, DockerError> {
        bootstrap::run(&self.rt, &self.api, opts, log)
    }

    /// Runs `fsmatrix` with `spec.args` in a container of `image`, streaming its output to
    /// `output` as it comes; returns its exit code. The container is removed in every case.
    pub fn run(
        &self,
        image: &RunnerImage,
        spec: &RunSpec,
        cancel: &Cancel,
        output: &mut dyn FnMut(&[u8]),
    ) -> Result<i64, DockerError> {
        container::run(
            &self.rt,
            &self.api,
            image,
            spec,
            self.apparmor,
            cancel,
            output,
        )
    }

    /// Removes the containers of the dead runs of one work directory, and the runner images
    /// `opts.images` names that no container uses.
    pub fn clean(&self, opts: &CleanOptions) -> Result<CleanReport, DockerError> {
        self.rt.block_on(clean::clean(&self.api, opts))
    }

    /// The async client and runtime, for the module's own tests.
    #[cfg(test)]
    pub(crate) fn parts(&self) -> (&tokio::runtime::Runtime, &bollard::Docker) {
        (&self.rt, &self.api)
    }
}

/// Sends `GET /version` without a version prefix.
///
/// bollard prefixes every path with its own API version (1.53), and engines older than that
/// answer any such request, `/version` included, with 400 "client version is too new", so
/// `negotiate_version` cannot learn the engine's version. Unversioned, `/version` is served by
/// every engine, old and new; the negotiated version is then used for all other calls.
fn unversioned_version_probe(mut req: BollardRequest) -> BollardRequest {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/v") else {
        return req;
    };
    let Some((version, "version")) = rest.split_once('/') else {
        return req;
    };
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return req;
    }
    let original = req.uri().to_string();
    let prefixed = format!("/v{version}/version");
    if let Ok(uri) = original.replacen(&prefixed, "/version", 1).parse() {
        *req.uri_mut() = uri;
    }
    req
}
