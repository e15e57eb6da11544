//! The sweep: remove what a killed run left behind, found by label rather than remembered.
//!
//! Only containers labelled with the work directory being cleaned are looked at, and of those
//! only the ones whose run is not alive (the caller knows, from each run's lock) are removed:
//! containers of other work directories and of live runs stay, whatever their state.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
};

use super::container::{self, OWNER_LABEL, RUN_LABEL, WORK_DIR_LABEL};
use super::error::{DockerError, is_conflict, is_not_found};

/// Label the shipped Dockerfile puts on runner images.
pub const RUNNER_IMAGE_LABEL: &str = "io.switchyard.fsmatrix.image=runner";

/// Whose containers to sweep, and what else.
#[derive(Clone, Debug, Default)]
pub struct CleanOptions {
    /// The work directory (as the kernel names it) whose runs' containers may be removed.
    pub work_dir: PathBuf,
    /// Runs of that work directory that are still going: their containers stay.
    pub alive_runs: Vec<String>,
    /// Also remove runner images other than the newest one that no container uses.
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
    /// Containers of live runs of the work directory, left alone.
    pub alive: Vec<RemovedContainer>,
    /// Tags (or ids, for untagged ones) of removed runner images.
    pub images: Vec<String>,
}

impl std::fmt::Display for CleanReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.containers.is_empty() && self.alive.is_empty() {
            writeln!(f, "no containers of runs in this work directory")?;
        }
        for c in &self.alive {
            writeln!(
                f,
                "left container {} alone: its run {} is still going",
                c.id, c.run_id
            )?;
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
    let work_dir = opts.work_dir.to_string_lossy();
    for found in list(api, &[(WORK_DIR_LABEL, &work_dir)]).await? {
        let found = RemovedContainer {
            id: container::short(&found.id).to_owned(),
            ..found
        };
        if opts.alive_runs.contains(&found.run_id) {
            report.alive.push(found);
            continue;
        }
        container::remove(api, &found.id).await?;
        report.containers.push(found);
    }
    if opts.images {
        report.images = remove_old_runner_images(api).await?;
    }
    Ok(report)
}

/// Containers of one run, running or not.
#[cfg(test)]
pub(crate) async fn list_ours(
    api: &bollard::Docker,
    run_id: &str,
) -> Result<Vec<RemovedContainer>, DockerError> {
    list(api, &[(RUN_LABEL, run_id)]).await
}

/// Containers carrying our label and each of `labels`, running or not.
async fn list(
    api: &bollard::Docker,
    labels: &[(&str, &str)],
) -> Result<Vec<RemovedContainer>, DockerError> {
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.push(format!("{OWNER_LABEL}=1"));
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
            // Gone already, or a container (of any run) still uses it.
            Err(e) if is_not_found(&e) || is_conflict(&e) => {}
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
