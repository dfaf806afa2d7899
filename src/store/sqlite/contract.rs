//! The store contract on SQLite: each method is one read transaction on a
//! read thread, or one write on the writer thread, calling this folder's SQL.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::{
    SqliteStore, budget, diversity, entropy_cache::EntropyCache, entropy_history, idempotency, ops,
    patterns, responses, retention, streams,
};
use crate::{
    domain::{
        diversity::DiversityQuery,
        entropy::PopulationEntropy,
        records::{
            BudgetRecord, BudgetStatistics, EntropySnapshot, PatternRecord, QuarantineStatus,
            ResponseCheck, ResponseRecord, ResponseStatistics,
        },
    },
    store::{
        Idempotent, Page, Position, Pruned, Retention, Store, StoreFault, StoreResult,
        StreamBounds, StreamFilter, StreamTable, Streamed, Version, Versioned, Wakeup, Write,
        WriteCounts, WriteOutcome,
    },
};

#[async_trait]
impl Store for SqliteStore {
    async fn latest_budget(&self, job: Option<String>) -> StoreResult<Option<BudgetRecord>> {
        self.read(move |c| budget::latest(c, job.as_deref())).await
    }

    async fn budget_history(
        &self,
        job: Option<String>,
        limit: usize,
        before: Option<i64>,
    ) -> StoreResult<Page<BudgetRecord>> {
        self.read(move |c| budget::history(c, job.as_deref(), limit, before))
            .await
    }

    async fn budget_statistics(&self, job: Option<String>) -> StoreResult<BudgetStatistics> {
        self.read(move |c| budget::statistics(c, job.as_deref()))
            .await
    }

    async fn budget_history_since(
        &self,
        job: Option<String>,
        limit: usize,
        before: Option<i64>,
        known: Option<Version>,
    ) -> StoreResult<Versioned<Page<BudgetRecord>>> {
        self.read(move |c| budget::history_since(c, job.as_deref(), limit, before, known))
            .await
    }

    async fn last_response(&self, job: Option<String>) -> StoreResult<Option<ResponseRecord>> {
        self.read(move |c| responses::latest(c, job.as_deref()))
            .await
    }

    async fn response_history(
        &self,
        job: Option<String>,
        limit: usize,
        before: Option<i64>,
    ) -> StoreResult<Page<ResponseRecord>> {
        self.read(move |c| responses::history(c, job.as_deref(), limit, before))
            .await
    }

    async fn response_statistics(&self, job: Option<String>) -> StoreResult<ResponseStatistics> {
        self.read(move |c| responses::statistics(c, job.as_deref()))
            .await
    }

    async fn check_response_needed(
        &self,
        job: String,
        threshold: f64,
        cooldown_seconds: i64,
        query: DiversityQuery,
    ) -> StoreResult<ResponseCheck> {
        let cache = self.entropy_cache.clone();
        self.read(move |c| {
            let entropy = entropy_of(&cache, c, &query)?;
            responses::check(c, &job, threshold, cooldown_seconds, entropy)
        })
        .await
    }

    async fn population_entropy(&self) -> StoreResult<PopulationEntropy> {
        let cache = self.entropy_cache.clone();
        self.read(move |c| cache.entropy(c)).await
    }

    async fn diversity(&self, query: DiversityQuery) -> StoreResult<PopulationEntropy> {
        let cache = self.entropy_cache.clone();
        self.read(move |c| entropy_of(&cache, c, &query)).await
    }

    async fn snapshot_history(
        &self,
        limit: usize,
        before: Option<(String, i64)>,
    ) -> StoreResult<Page<EntropySnapshot>> {
        self.read(move |c| entropy_history::history(c, limit, before))
            .await
    }

    async fn list_patterns(
        &self,
        status: Option<QuarantineStatus>,
        limit: usize,
        after: Option<i64>,
    ) -> StoreResult<Page<PatternRecord>> {
        self.read(move |c| patterns::list(c, status, limit, after))
            .await
    }

    async fn write(&self, write: Write, once: Option<Idempotent>) -> StoreResult<WriteOutcome> {
        let provenance = crate::store::provenance(&self.instance_id, once.as_ref());
        match once {
            None => {
                self.write_with(move |c| ops::run(c, write, &provenance).map(WriteOutcome::Written))
                    .await
            }
            Some(once) => {
                self.write_with(move |c| {
                    idempotency::run_once(c, once, |c| ops::run(c, write, &provenance))
                })
                .await
            }
        }
    }

    async fn prune_request_ids(&self, before: DateTime<Utc>, batch: usize) -> StoreResult<usize> {
        if !self
            .read(move |c| idempotency::any_expired(c, before))
            .await?
        {
            return Ok(0);
        }
        self.write_with(move |c| idempotency::prune(c, before, batch))
            .await
    }

    async fn prune_history(&self, retention: Retention, batch: usize) -> StoreResult<Pruned> {
        if retention.is_off() {
            return Ok(Pruned::default());
        }
        self.write_with(move |c| retention::prune_batch(c, &retention, batch))
            .await
    }

    fn write_counts(&self) -> WriteCounts {
        self.writer.counts()
    }

    async fn budget_after(
        &self,
        after: Position,
        limit: usize,
    ) -> StoreResult<Streamed<BudgetRecord>> {
        self.read(move |c| streams::rows_after(c, &budget::SELECT, after, limit, budget::from_row))
            .await
    }

    async fn responses_after(
        &self,
        after: Position,
        limit: usize,
    ) -> StoreResult<Streamed<ResponseRecord>> {
        self.read(move |c| {
            streams::rows_after(c, &responses::SELECT, after, limit, responses::from_row)
        })
        .await
    }

    async fn snapshots_after(
        &self,
        after: Position,
        limit: usize,
    ) -> StoreResult<Streamed<EntropySnapshot>> {
        self.read(move |c| {
            let select = format!(
                "SELECT {} FROM pattern_entropy_history",
                entropy_history::COLUMNS
            );
            streams::rows_after(c, &select, after, limit, entropy_history::from_rowid_row)
        })
        .await
    }

    async fn stream_bounds(&self, table: StreamTable) -> StoreResult<StreamBounds> {
        self.read(move |c| streams::bounds(c, table)).await
    }

    async fn backfill_start(
        &self,
        table: StreamTable,
        filter: StreamFilter,
        count: usize,
    ) -> StoreResult<Position> {
        self.read(move |c| streams::backfill_start(c, table, filter, count))
            .await
    }

    fn wakeups(&self) -> watch::Receiver<Wakeup> {
        self.wakeups.clone()
    }

    async fn probe(&self, write_timeout: Duration) -> Result<(), StoreFault> {
        self.probe_now(write_timeout).await
    }

    fn close(&self, grace: Duration) {
        self.stop(grace);
    }
}

/// The all-time population from the cache (one point read while nothing
/// changes it); a window or a scope is computed from the bucket tables.
fn entropy_of(
    cache: &EntropyCache,
    connection: &rusqlite::Connection,
    query: &DiversityQuery,
) -> StoreResult<PopulationEntropy> {
    if query.is_all_time_population() {
        cache.entropy(connection)
    } else {
        diversity::entropy(connection, query)
    }
}
