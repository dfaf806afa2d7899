//! Gauges read at scrape time, from the database itself rather than from
//! this process's calls, so that they also cover what other programs
//! write to the file (the original store), and cost nothing between scrapes.

use std::{path::PathBuf, sync::Arc, time::Duration};

use metrics::gauge;

use super::MetricsOptions;
use crate::store::{Store, StoreResult};

/// A scrape answers even when the store is stuck (locked by another
/// program): the gauges then keep their previous values.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Sampler {
    store: Arc<dyn Store>,
    db: Option<PathBuf>,
    budget_jobs: Vec<String>,
}

impl Sampler {
    pub fn new(store: Arc<dyn Store>, options: &MetricsOptions) -> Self {
        Self {
            store,
            db: options.db.clone(),
            budget_jobs: options.budget_jobs.clone(),
        }
    }

    pub async fn sample(&self) {
        let sampled = tokio::time::timeout(SAMPLE_TIMEOUT, async {
            self.file_sizes().await;
            self.domain().await
        })
        .await;
        match sampled {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "metrics: cannot read the store"),
            Err(_) => tracing::warn!(
                timeout = ?SAMPLE_TIMEOUT,
                "metrics: the store did not answer in time; gauges keep their last values"
            ),
        }
    }

    /// The SQLite file and its WAL (file system calls: off the async workers).
    async fn file_sizes(&self) {
        let Some(db) = self.db.clone() else { return };
        let sizes = tokio::task::spawn_blocking(move || {
            let size = |path: &std::path::Path| std::fs::metadata(path).map(|m| m.len()).ok();
            let mut wal = db.clone().into_os_string();
            wal.push("-wal");
            (size(&db), size(std::path::Path::new(&wal)).unwrap_or(0))
        })
        .await;
        if let Ok((database, wal)) = sizes {
            if let Some(database) = database {
                gauge!("learning_store_database_bytes").set(database as f64);
            }
            gauge!("learning_store_wal_bytes").set(wal as f64);
        }
    }

    async fn domain(&self) -> StoreResult<()> {
        let newest = self.store.snapshot_history(1, None).await?;
        if let Some(snapshot) = newest.items.first() {
            gauge!("learning_entropy_diversity_index").set(snapshot.entropy.diversity_index);
        }
        let responses = self.store.response_statistics(None).await?;
        gauge!("learning_entropy_responses_recorded").set(responses.total_responses as f64);
        for job in &self.budget_jobs {
            if let Some(latest) = self.store.latest_budget(Some(job.clone())).await? {
                gauge!("learning_budget_current", "job_hash" => job.clone())
                    .set(latest.budget_value);
            }
        }
        Ok(())
    }
}
