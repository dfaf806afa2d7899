//! Loops the service runs by itself: the entropy sampler records a snapshot
//! at an interval, and the automatic responder checks named jobs and
//! responds to low entropy (check and trigger in one transaction, so it
//! never races with clients doing the same); both are off by default. The
//! prune of expired request ids always runs, off every client's path.

use std::{sync::Arc, time::Duration};

use tokio::task::JoinHandle;

use crate::{
    domain::{
        diversity::DiversityQuery,
        records::{EntropySnapshot, ResponseConfig},
    },
    ops::metrics::RETENTION_DELETED_ROWS,
    store::{PRUNE_BATCH, PRUNE_INTERVAL, Pruned, RETENTION, Retention, Store},
};

/// Records an entropy snapshot every `interval`.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerOptions {
    pub interval: Duration,
    /// `threshold_exceeded` is set when diversity is strictly below it.
    pub alert_threshold: f64,
    /// The window and scope of the snapshots (default: all time, all patterns).
    pub diversity: DiversityQuery,
}

/// Responds to low entropy for `jobs` every `interval`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponderOptions {
    pub jobs: Vec<String>,
    pub interval: Duration,
    pub entropy_threshold: f64,
    pub cooldown_seconds: i64,
    pub config: ResponseConfig,
    /// The window and scope of the check, and the scope of the revisit.
    pub diversity: DiversityQuery,
}

/// Deletes history past `days` and beyond `budget_rows_per_job`, every `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionOptions {
    pub days: Option<u32>,
    pub budget_rows_per_job: Option<u64>,
    pub interval: Duration,
}

/// Rows deleted per history in one transaction: small, so that a write
/// queued behind a batch waits for little.
const RETENTION_BATCH: usize = 500;
/// The shortest pause between two batches, in which queued writes run.
const RETENTION_PAUSE: Duration = Duration::from_millis(20);
/// The pause is also at least this many times the batch's own time, so the
/// purge takes at most a fifth of the writer however slow a batch gets
/// under load (at a fixed pause it took most of it, and writes slowed by a
/// third; see BENCHMARKS.md).
const RETENTION_PAUSE_PER_BATCH_TIME: u32 = 4;

/// The running loops; dropping this stops them.
pub struct Background {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Background {
    pub fn start(
        store: Arc<dyn Store>,
        sampler: Option<SamplerOptions>,
        responder: Option<ResponderOptions>,
        retention: Option<RetentionOptions>,
    ) -> Self {
        let mut tasks = vec![tokio::spawn(prune_request_ids(store.clone()))];
        if let Some(options) = retention {
            tracing::info!(days = ?options.days, budget_rows_per_job = ?options.budget_rows_per_job, "history retention on");
            tasks.push(tokio::spawn(retain(store.clone(), options)));
        }
        if let Some(options) = sampler {
            tracing::info!(interval = ?options.interval, alert_threshold = options.alert_threshold, "entropy sampler on");
            tasks.push(tokio::spawn(sample(store.clone(), options)));
        }
        if let Some(options) = responder.filter(|r| !r.jobs.is_empty()) {
            tracing::info!(jobs = ?options.jobs, interval = ?options.interval, "automatic entropy responder on");
            tasks.push(tokio::spawn(respond(store, options)));
        }
        Self { tasks }
    }
}

fn ticker(interval: Duration) -> tokio::time::Interval {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

/// Deletes request ids older than [`RETENTION`], a batch per transaction,
/// at every interval (and at once again while batches come back full).
async fn prune_request_ids(store: Arc<dyn Store>) {
    let mut ticker = ticker(PRUNE_INTERVAL);
    loop {
        ticker.tick().await;
        loop {
            let before = chrono::Utc::now() - RETENTION;
            match store.prune_request_ids(before, PRUNE_BATCH).await {
                Ok(deleted) if deleted >= PRUNE_BATCH => continue,
                Ok(deleted) => tracing::debug!(deleted, "pruned expired request ids"),
                Err(error) => tracing::warn!(%error, "cannot prune expired request ids"),
            }
            break;
        }
    }
}

/// At every interval, deletes what retention lets go, a batch at a time
/// with a pause between batches, until nothing is left.
async fn retain(store: Arc<dyn Store>, options: RetentionOptions) {
    // Every series exists from the start, so a rate over it is 0, not absent.
    count_deleted(&Pruned::default());
    let mut ticker = ticker(options.interval);
    loop {
        ticker.tick().await;
        let retention = Retention {
            before: options
                .days
                .map(|days| chrono::Utc::now() - chrono::Duration::days(i64::from(days))),
            budget_rows_per_job: options.budget_rows_per_job,
        };
        let mut total = Pruned::default();
        loop {
            let started = tokio::time::Instant::now();
            match store.prune_history(retention, RETENTION_BATCH).await {
                Ok(pruned) if pruned.total() > 0 => {
                    count_deleted(&pruned);
                    total.budget += pruned.budget;
                    total.responses += pruned.responses;
                    total.snapshots += pruned.snapshots;
                    tokio::time::sleep(pause_after(started.elapsed())).await;
                }
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "retention could not delete old history");
                    break;
                }
            }
        }
        if total.total() > 0 {
            tracing::info!(
                budget = total.budget,
                responses = total.responses,
                snapshots = total.snapshots,
                "retention deleted old history"
            );
        }
    }
}

fn pause_after(batch: Duration) -> Duration {
    RETENTION_PAUSE.max(batch * RETENTION_PAUSE_PER_BATCH_TIME)
}

/// Counted per batch, so that a long purge shows its progress.
fn count_deleted(pruned: &Pruned) {
    for (history, rows) in [
        ("budget", pruned.budget),
        ("responses", pruned.responses),
        ("snapshots", pruned.snapshots),
    ] {
        metrics::counter!(RETENTION_DELETED_ROWS, "history" => history).increment(rows);
    }
}

async fn sample(store: Arc<dyn Store>, options: SamplerOptions) {
    let mut ticker = ticker(options.interval);
    loop {
        ticker.tick().await;
        let recorded = async {
            let entropy = store.diversity(options.diversity.clone()).await?;
            store
                .record_snapshot(EntropySnapshot {
                    id: None,
                    calculated_at: None,
                    threshold_exceeded: entropy.diversity_index < options.alert_threshold,
                    entropy,
                })
                .await
        }
        .await;
        match recorded {
            Ok(snapshot) => tracing::debug!(
                diversity = snapshot.entropy.diversity_index,
                threshold_exceeded = snapshot.threshold_exceeded,
                "entropy snapshot recorded"
            ),
            Err(error) => tracing::warn!(%error, "entropy sampler could not record a snapshot"),
        }
    }
}

async fn respond(store: Arc<dyn Store>, options: ResponderOptions) {
    let mut ticker = ticker(options.interval);
    loop {
        ticker.tick().await;
        for job in &options.jobs {
            let answer = store
                .respond_if_needed(
                    job.clone(),
                    options.entropy_threshold,
                    options.cooldown_seconds,
                    options.config,
                    options.diversity.clone(),
                )
                .await;
            match answer {
                Ok((check, Some(response))) => tracing::info!(
                    job,
                    reason = check.reason,
                    response = response.id,
                    "automatic entropy response recorded"
                ),
                Ok((check, None)) => {
                    tracing::debug!(job, reason = check.reason, "no entropy response needed")
                }
                Err(error) => tracing::warn!(job, %error, "automatic entropy response failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_batch_is_followed_by_a_longer_pause() {
        assert_eq!(pause_after(Duration::from_millis(1)), RETENTION_PAUSE);
        assert_eq!(
            pause_after(Duration::from_millis(30)),
            Duration::from_millis(120)
        );
    }
}
