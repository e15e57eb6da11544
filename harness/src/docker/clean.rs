//! The sweep: remove what a killed run left behind, found by label rather than remembered.
//!
//! Only containers labelled with the work directory being cleaned are looked at, and of those
//! only the ones whose run the caller found dead (from each run's lock) are removed: containers
//! of other work directories, of live runs and of runs the caller did not see (one that started
//! after it looked) stay, whatever their state.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveImageOptionsBuilder};

use super::container::{self, OWNER_LABEL, RUN_LABEL, WORK_DIR_LABEL};
use super::error::{DockerError, is_conflict, is_not_found};
use super::image_lock::ImageLock;

/// Whose containers to sweep, and what else.
#[derive(Clone, Debug, Default)]
pub struct CleanOptions {
    /// The work directory (as the kernel names it) whose runs' containers may be removed.
    pub work_dir: PathBuf,
    /// Runs of that work directory found dead: only their containers are removed.
    pub dead_runs: Vec<String>,
    /// Runner images that only dead runs of that work directory used: each is removed unless a
    /// container uses it.
    pub images: Vec<String>,
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
    /// Containers of the work directory's runs that were not found dead, left alone.
    pub left: Vec<RemovedContainer>,
    /// Runner images removed (or found already gone).
    pub images: Vec<String>,
}

impl std::fmt::Display for CleanReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.containers.is_empty() && self.left.is_empty() {
            writeln!(f, "no containers of runs in this work directory")?;
        }
        for c in &self.left {
            writeln!(
                f,
                "left container {} alone: its run {} is not a dead run of this work directory \
                 (it is still going, or started after clean looked)",
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
        if !opts.dead_runs.contains(&found.run_id) {
            report.left.push(found);
            continue;
        }
        container::remove(api, &found.id).await?;
        report.containers.push(found);
    }
    report.images = remove_images(api, &opts.images).await?;
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

/// Removes each of `tags` that no container uses; returns those now gone.
async fn remove_images(api: &bollard::Docker, tags: &[String]) -> Result<Vec<String>, DockerError> {
    let _turn = ImageLock::acquire()?;
    let mut gone = Vec::new();
    for tag in tags {
        let options = RemoveImageOptionsBuilder::default().build();
        match api.remove_image(tag, Some(options), None).await {
            Ok(_) => gone.push(tag.clone()),
            Err(e) if is_not_found(&e) => gone.push(tag.clone()),
            // A container (of any run, of any work directory) still uses it: it stays.
            Err(e) if is_conflict(&e) => {}
            Err(source) => {
                return Err(DockerError::Api {
                    op: "remove image",
                    source,
                });
            }
        }
    }
    Ok(gone)
}
