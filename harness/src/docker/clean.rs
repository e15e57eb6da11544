//! The sweep: remove what a killed run left behind, found by label rather than remembered.

use std::collections::HashMap;

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
};

use super::container::{self, OWNER_LABEL, RUN_LABEL};
use super::error::{DockerError, is_not_found};

/// Label the shipped Dockerfile puts on runner images.
pub const RUNNER_IMAGE_LABEL: &str = "io.switchyard.fsmatrix.image=runner";

/// What to sweep besides containers.
#[derive(Clone, Debug, Default)]
pub struct CleanOptions {
    /// Also remove runner images other than the newest one.
    pub images: bool,
}

/// A container the sweep removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovedContainer {
    /// Short id.
    pub id: String,
    /// The run it belonged to, from its label.
    pub run_id: String,
    /// Its state when found (`running`, `exited`, `created`, …).
    pub state: String,
}

/// What the sweep removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanReport {
    pub containers: Vec<RemovedContainer>,
    /// Tags (or ids, for untagged ones) of removed runner images.
    pub images: Vec<String>,
}

impl std::fmt::Display for CleanReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.containers.is_empty() {
            writeln!(f, "no fsmatrix containers found")?;
        }
        for c in &self.containers {
            writeln!(
                f,
                "removed container {} (run {}, {})",
                c.id, c.run_id, c.state
            )?;
        }
        for image in &self.images {
            writeln!(f, "removed image {image}")?;
        }
        Ok(())
    }
}

pub(crate) async fn clean(
    api: &bollard::Docker,
    opts: &CleanOptions,
) -> Result<CleanReport, DockerError> {
    let mut report = CleanReport::default();
    for found in list_ours(api, None).await? {
        container::remove(api, &found.id).await?;
        report.containers.push(RemovedContainer {
            id: container::short(&found.id).to_owned(),
            ..found
        });
    }
    if opts.images {
        report.images = remove_old_runner_images(api).await?;
    }
    Ok(report)
}

/// Containers carrying our label, running or not; only those of one run when `run_id` is given.
pub(crate) async fn list_ours(
    api: &bollard::Docker,
    run_id: Option<&str>,
) -> Result<Vec<RemovedContainer>, DockerError> {
    let mut labels = vec![format!("{OWNER_LABEL}=1")];
    if let Some(run) = run_id {
        labels.push(format!("{RUN_LABEL}={run}"));
    }
    let filters = HashMap::from([("label".to_owned(), labels)]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let found = api
        .list_containers(Some(options))
        .await
        .map_err(DockerError::api("list containers"))?;
    Ok(found
        .into_iter()
        .filter_map(|c| {
            Some(RemovedContainer {
                run_id: c
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(RUN_LABEL).cloned())
                    .unwrap_or_default(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                id: c.id?,
            })
        })
        .collect())
}

async fn remove_old_runner_images(api: &bollard::Docker) -> Result<Vec<String>, DockerError> {
    let filters = HashMap::from([("label".to_owned(), vec![RUNNER_IMAGE_LABEL.to_owned()])]);
    let options = ListImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let mut images = api
        .list_images(Some(options))
        .await
        .map_err(DockerError::api("list images"))?;
    images.sort_by_key(|image| std::cmp::Reverse(image.created));
    let mut removed = Vec::new();
    for image in images.into_iter().skip(1) {
        let name = image
            .repo_tags
            .iter()
            .find(|t| t.as_str() != "<none>:<none>")
            .cloned()
            .unwrap_or_else(|| image.id.clone());
        let options = RemoveImageOptionsBuilder::default().build();
        match api.remove_image(&name, Some(options), None).await {
            Ok(_) => removed.push(name),
            Err(e) if is_not_found(&e) => {}
            Err(source) => {
                return Err(DockerError::Api {
                    op: "remove image",
                    source,
                });
            }
        }
    }
    Ok(removed)
}
