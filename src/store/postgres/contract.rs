//! The store contract on PostgreSQL: each read is one statement or one
//! read-only snapshot; each write one transaction, retried in `tx`.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::{
    Conn, PostgresStore, budget, diversity, group, idempotency, patterns, responses, retention,
    snapshots, streams,
    tx::{TxResult, into_store_error, with_retry},
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
        Idempotent, Page, Position, Pruned, Retention, Store, StoreError, StoreFault, StoreResult,
        StreamBounds, StreamFilter, StreamTable, Streamed, Wakeup, Write, WriteCounts,
        WriteOutcome,
    },
};

/// Runs `$body` with `$c` bound to a pooled connection (one statement each).
macro_rules! read {
    ($self:ident, |$c:ident| $body:expr) => {{
        let client = $self.client().await?;
        let $c = &*client;
        let result: TxResult<_> = $body.await;
        client.finish();
        result.map_err(into_store_error)
    }};
}

/// Runs `$body` with `$c` bound to a REPEATABLE READ READ ONLY transaction:
/// reads of several statements see one snapshot.
macro_rules! snapshot {
    ($self:ident, |$c:ident| $body:expr) => {{
        let mut client = $self.client().await?;
        let transaction = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let $c = &transaction;
        let result: TxResult<_> = $body.await;
        let value = match result {
            Ok(value) => transaction.commit().await.map(|()| value),
            Err(failure) => {
                drop(transaction);
                client.finish();
                return Err(into_store_error(failure));
            }
        };
        client.finish();
        Ok(value?)
    }};
}

#[async_trait]
impl Store for PostgresStore {
    async fn latest_budget(&self, job: Option<String>) -> StoreResult<Option<BudgetRecord>> {
        read!(self, |c| budget::latest(c, job.as_deref()))
    }

    async fn budget_history(
        &self,
        job: Option<String>,
        limit: usize,
        before: Option<i64>,
    ) -> StoreResult<Page<BudgetRecord>> {
        read!(self, |c| budget::history(c, job.as_deref(), limit, before))
    }

    async fn budget_statistics(&self, job: Option<String>) -> StoreResult<BudgetStatistics> {
        snapshot!(self, |c| budget::statistics(c, job.as_deref()))
    }

    async fn last_response(&self, job: Option<String>) -> StoreResult<Option<ResponseRecord>> {
        read!(self, |c| responses::latest(c, job.as_deref()))
    }

    async fn response_history(
        &self,
        job: Option<String>,
        limit: usize,
        before: Option<i64>,
    ) -> StoreResult<Page<ResponseRecord>> {
        read!(self, |c| responses::history(
            c,
            job.as_deref(),
            limit,
            before
        ))
    }

    async fn response_statistics(&self, job: Option<String>) -> StoreResult<ResponseStatistics> {
        snapshot!(self, |c| responses::statistics(c, job.as_deref()))
    }

    async fn check_response_needed(
        &self,
        job: String,
        threshold: f64,
        cooldown_seconds: i64,
        query: DiversityQuery,
    ) -> StoreResult<ResponseCheck> {
        snapshot!(self, |c| async {
            let entropy = diversity::entropy(c, &query).await?;
            responses::check(c, &job, threshold, cooldown_seconds, entropy).await
        })
    }

    async fn population_entropy(&self) -> StoreResult<PopulationEntropy> {
        read!(self, |c| patterns::population_entropy(c))
    }

    async fn diversity(&self, query: DiversityQuery) -> StoreResult<PopulationEntropy> {
        read!(self, |c| diversity::entropy(c, &query))
    }

    async fn snapshot_history(
        &self,
        limit: usize,
        before: Option<(String, i64)>,
    ) -> StoreResult<Page<EntropySnapshot>> {
        read!(self, |c| snapshots::history(c, limit, before))
    }

    async fn list_patterns(
        &self,
        status: Option<QuarantineStatus>,
        limit: usize,
        after: Option<i64>,
    ) -> StoreResult<Page<PatternRecord>> {
        read!(self, |c| patterns::list(c, status, limit, after))
    }

    async fn write(&self, write: Write, once: Option<Idempotent>) -> StoreResult<WriteOutcome> {
        let provenance = crate::store::provenance(&self.instance_id, once.as_ref());
        if group::job_of(&write).is_some() {
            return self.groups.write(write, once, provenance).await;
        }
        let side = self.groups.side();
        side.write_alone(&write, once.as_ref(), &provenance).await
    }

    async fn prune_request_ids(&self, before: DateTime<Utc>, batch: usize) -> StoreResult<usize> {
        read!(self, |c| idempotency::prune(c, before, batch))
    }

    /// One batch, one transaction (see `retention`), retried as writes are.
    async fn prune_history(&self, retention: Retention, batch: usize) -> StoreResult<Pruned> {
        if retention.is_off() {
            return Ok(Pruned::default());
        }
        let retention = &retention;
        with_retry(|| async move {
            let mut client = self.client().await?;
            let pruned = Self::prune_once(&mut client, retention, batch).await;
            client.finish();
            pruned
        })
        .await
    }

    fn write_counts(&self) -> WriteCounts {
        self.groups.side().counts()
    }

    async fn budget_after(
        &self,
        after: Position,
        limit: usize,
    ) -> StoreResult<Streamed<BudgetRecord>> {
        let rows = read!(self, |c| streams::rows_after(
            c,
            budget::SELECT,
            after,
            limit,
            budget::from_row
        ))?;
        Ok(every_row_readable(rows))
    }

    async fn responses_after(
        &self,
        after: Position,
        limit: usize,
    ) -> StoreResult<Streamed<ResponseRecord>> {
        let rows = read!(self, |c| streams::rows_after(
            c,
            responses::SELECT,
            after,
            limit,
            responses::from_row
        ))?;
        Ok(every_row_readable(rows))
    }

    async fn snapshots_after(
        &self,
        after: Position,
        limit: usize,
    ) -> StoreResult<Streamed<EntropySnapshot>> {
        let select = format!("SELECT {} FROM pattern_entropy_history", snapshots::COLUMNS);
        let rows = read!(self, |c| streams::rows_after(
            c,
            &select,
            after,
            limit,
            snapshots::from_row
        ))?;
        Ok(every_row_readable(rows))
    }

    async fn stream_bounds(&self, table: StreamTable) -> StoreResult<StreamBounds> {
        read!(self, |c| streams::bounds(c, table))
    }

    async fn backfill_start(
        &self,
        table: StreamTable,
        filter: StreamFilter,
        count: usize,
    ) -> StoreResult<Position> {
        read!(self, |c| streams::backfill_start(c, table, filter, count))
    }

    fn wakeups(&self) -> watch::Receiver<Wakeup> {
        self.wakeups.clone()
    }

    /// Reads and writes need the database: a write that changes nothing
    /// (still a write transaction, refused by a read-only standby) within
    /// `write_timeout`. A lost database is NOT_SERVING until it answers again;
    /// the pool replaces the broken connections by itself.
    async fn probe(&self, write_timeout: Duration) -> Result<(), StoreFault> {
        let check = async {
            let client = self.client().await?;
            let written = client
                .batch_execute("BEGIN; UPDATE ls_schema SET version = version WHERE id = 0; COMMIT")
                .await
                .map_err(StoreError::from);
            client.finish();
            written
        };
        match tokio::time::timeout(write_timeout, check).await {
            Err(_) => Err(StoreFault::WriteStalled(write_timeout)),
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(StoreFault::Write(error.to_string())),
        }
    }

    fn close(&self, _grace: Duration) {
        // A group that is committing finishes, and its callers hear back;
        // budget writes still queued for a group are refused (their callers
        // are told, nothing of theirs was written), as are new calls.
        self.stop();
    }
}

impl PostgresStore {
    /// One attempt of a retention batch: one transaction, BEGIN to COMMIT.
    async fn prune_once(
        client: &mut Conn,
        retention: &Retention,
        batch: usize,
    ) -> TxResult<Pruned> {
        let transaction = client.transaction().await?;
        let pruned = retention::prune_batch(&transaction, retention, batch).await?;
        transaction.commit().await?;
        Ok(pruned)
    }
}

/// PostgreSQL's columns are typed: every row it returns can be read.
fn every_row_readable<T>(rows: Vec<(Position, T)>) -> Streamed<T> {
    rows.into_iter().map(|(at, row)| (at, Some(row))).collect()
}
