//! The runner image: reuse it when its content hash is already built, else build it offline.
//!
//! The base is `debian:bookworm-slim` when that image is present locally, else the bootstrapped
//! `switchyard-fsmatrix-base:bookworm`; nothing is ever pulled (a pull with no registry in reach
//! hangs instead of failing), so with neither present the user is told to bootstrap one.

use std::collections::HashMap;

use bollard::models::ImageInspect;
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;

use super::context::{BuildContext, BuildInputs};
use super::error::{DockerError, is_not_found};
use super::image_lock::ImageLock;

/// The official slim base, used when it is present locally.
pub const OFFICIAL_BASE: &str = "debian:bookworm-slim";

/// The base made by `fsmatrix image bootstrap`.
pub const BOOTSTRAP_BASE: &str = "switchyard-fsmatrix-base:bookworm";

/// Label on runner images: the full sha256 of their build context.
pub const CONTEXT_LABEL: &str = "io.switchyard.fsmatrix.context";

/// Label on runner images: the base image they were built from.
pub const BASE_LABEL: &str = "io.switchyard.fsmatrix.base";

/// A runner image ready to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunnerImage {
    /// `switchyard-fsmatrix:<16 hex>`.
    pub tag: String,
    /// The engine's image id (`sha256:…`).
    pub id: String,
    /// True when the image already existed and nothing was built.
    pub reused: bool,
    /// The base the image was built from.
    pub base: String,
}

/// Looks an image up by name; `None` when the engine does not know it.
pub(crate) async fn inspect(
    api: &bollard::Docker,
    name: &str,
) -> Result<Option<ImageInspect>, DockerError> {
    match api.inspect_image(name).await {
        Ok(image) => Ok(Some(image)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(DockerError::Api {
            op: "inspect image",
            source: e,
        }),
    }
}

pub(crate) async fn ensure(
    api: &bollard::Docker,
    inputs: &BuildInputs,
    log: &mut dyn FnMut(&str),
) -> Result<RunnerImage, DockerError> {
    let context = BuildContext::from_inputs(inputs)?;
    let tag = context.tag();
    log(&format!(
        "build context: {} bytes, sha256 {}",
        context.len(),
        context.sha256()
    ));

    let _turn = ImageLock::acquire()?;
    if let Some(existing) = inspect(api, &tag).await? {
        let base = label(&existing, BASE_LABEL).unwrap_or_else(|| "unknown".to_owned());
        log(&format!(
            "image {tag} is up to date (cached, no rebuild; base {base})"
        ));
        return Ok(RunnerImage {
            id: existing.id.unwrap_or_default(),
            tag,
            reused: true,
            base,
        });
    }

    let base = choose_base(api, log).await?;
    log(&format!("building image {tag} from base {base}"));
    build(api, context, &tag, base, log).await?;

    let built = inspect(api, &tag)
        .await?
        .ok_or_else(|| DockerError::BuildIncomplete { tag: tag.clone() })?;
    log(&format!("built image {tag}"));
    Ok(RunnerImage {
        id: built.id.unwrap_or_default(),
        tag,
        reused: false,
        base: base.to_owned(),
    })
}

async fn choose_base(
    api: &bollard::Docker,
    log: &mut dyn FnMut(&str),
) -> Result<&'static str, DockerError> {
    if inspect(api, OFFICIAL_BASE).await?.is_some() {
        return Ok(OFFICIAL_BASE);
    }
    if inspect(api, BOOTSTRAP_BASE).await?.is_some() {
        log(&format!(
            "{OFFICIAL_BASE} is not present locally; using the bootstrapped base {BOOTSTRAP_BASE}"
        ));
        return Ok(BOOTSTRAP_BASE);
    }
    Err(DockerError::NoBaseImage {
        official: OFFICIAL_BASE,
        bootstrapped: BOOTSTRAP_BASE,
    })
}

async fn build(
    api: &bollard::Docker,
    context: BuildContext,
    tag: &str,
    base: &str,
    log: &mut dyn FnMut(&str),
) -> Result<(), DockerError> {
    let buildargs = HashMap::from([("BASE".to_owned(), base.to_owned())]);
    let labels = HashMap::from([
        (CONTEXT_LABEL.to_owned(), context.sha256().to_owned()),
        (BASE_LABEL.to_owned(), base.to_owned()),
    ]);
    // The classic builder (BuilderV1, bollard's default): what a 20.10 engine serves over plain
    // HTTP. No `pull`, so a base missing locally is an error, never a network wait.
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .buildargs(&buildargs)
        .labels(&labels)
        .build();

    let body = bollard::body_full(context.into_bytes().into());
    let mut stream = api.build_image(options, None, Some(body));
    let mut lines = LineBuffer::default();
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(text) = info.stream.as_deref() {
                    lines.push(text, log);
                }
                if let Some(status) = info.status.as_deref() {
                    lines.push(status, log);
                    lines.push("\n", log);
                }
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                lines.flush(log);
                return Err(DockerError::Build {
                    tag: tag.to_owned(),
                    message: error.trim_end().to_owned(),
                });
            }
            Err(source) => {
                lines.flush(log);
                return Err(DockerError::Api {
                    op: "build image",
                    source,
                });
            }
        }
    }
    lines.flush(log);
    Ok(())
}

fn label(image: &ImageInspect, key: &str) -> Option<String> {
    image.config.as_ref()?.labels.as_ref()?.get(key).cloned()
}

/// Cuts streamed text into whole lines for the log callback.
#[derive(Default)]
pub(crate) struct LineBuffer {
    partial: String,
}

impl LineBuffer {
    pub(crate) fn push(&mut self, text: &str, log: &mut dyn FnMut(&str)) {
        self.partial.push_str(text);
        while let Some(end) = self.partial.find('\n') {
            let line = self.partial[..end].trim_end_matches('\r');
            if !line.is_empty() {
                log(line);
            }
            self.partial.drain(..=end);
        }
    }

    pub(crate) fn flush(&mut self, log: &mut dyn FnMut(&str)) {
        let rest = std::mem::take(&mut self.partial);
        let rest = rest.trim_end();
        if !rest.is_empty() {
            log(rest);
        }
    }
}
