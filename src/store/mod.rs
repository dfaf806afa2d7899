//! The store contract every backend implements, and its backend-neutral
//! types. The backends live in one folder each (`sqlite/`, the embedded
//! default); nothing outside them names a backend type or holds SQL.
//!
//! A call goes `api/` -> [`Store`] -> backend, one hop per layer. Reads are
//! each one consistent snapshot; a [`Write`] is one transaction, and its
//! idempotency record (opaque bytes) commits in that same transaction.

pub mod copy;
mod error;
mod explanation_json;
mod fault;
mod idempotency;
mod instance;
pub mod json;
mod location;
mod page;
pub mod postgres;
mod range;
mod retention;
pub mod sqlite;
mod stream;
pub mod time;
pub mod unreadable;
mod versioned;
mod write;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::domain::{
    diversity::DiversityQuery,
    entropy::PopulationEntropy,
    records::{
        BudgetRecord, BudgetStatistics, EntropySnapshot, PatternRecord, QuarantineStatus,
        ResponseCheck, ResponseConfig, ResponseRecord, ResponseStatistics,
    },
};

pub use error::{StoreError, StoreResult};
pub use fault::StoreFault;
pub use idempotency::{IdempotencyKey, Idempotent, PRUNE_BATCH, PRUNE_INTERVAL, RETENTION};
pub use instance::{default_instance_id, provenance};
pub use location::StoreLocation;
pub use page::{Page, PageKey};
pub use range::{BudgetRange, RANGE_PAGE, RangeBounds, RangeExceeded, budget_in_range};
pub use retention::{Pruned, Retention};
pub use stream::{Position, StreamBounds, StreamFilter, StreamTable, Streamed, Wakeup};
pub use versioned::{Version, Versioned};
pub use write::{Write, WriteOutcome, Written};

/// How commits reach the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// Every commit is fsynced: an acknowledged write survives power loss.
    #[default]
    Full,
    /// Commits are not fsynced: they survive a crash of the service, but the
    /// last ones may be lost on power loss.
    Normal,
}

/// Who copies the SQLite write-ahead log into the database file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Checkpoints {
    /// The service does, beside the writer and in it.
    #[default]
    Auto,
    /// Nobody in the service: a replication tool such as Litestream does.
    Off,
}

#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub durability: Durability,
    pub read_connections: u32,
    pub write_queue_capacity: usize,
    pub checkpoints: Checkpoints,
    /// Pool and connection settings of the PostgreSQL backend.
    pub postgres: postgres::PostgresOptions,
    /// Names this process in the explanations of what it writes.
    pub instance_id: String,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            read_connections: 8,
            write_queue_capacity: 4096,
            checkpoints: Checkpoints::Auto,
            postgres: postgres::PostgresOptions::default(),
            instance_id: default_instance_id(),
        }
    }
}

/// What the write path did so far, to see that batches form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteCounts {
    /// Writes waiting to run.
    pub queued: u64,
    /// Writes run (successful or not).
    pub operations: u64,
    /// Transactions committed (or attempted).
    pub commits: u64,
    /// Most writes committed together.
    pub largest_batch: u64,
}

/// The store as the gRPC layer, the stream feeds, the background loops and
/// the health monitor use it. Held as `Arc<dyn Store>`, chosen at start-up.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // Budget records.
    async fn latest_budget(&self, job: Option<String>) -> StoreResult<Option<BudgetRecord>>;
    /// Newest first, `limit` per page, before the page key's position.
    async fn budget_history(
        &self,
        job: Option<String>,
        limit: usize,
        before: Option<i64>,
    ) -> StoreResult<Page<BudgetRecord>>;
    /// O(1) in the history size.
    async fn budget_statistics(&self, job: Option<String>) -> StoreResult<BudgetStatistics>;

    // Entropy responses.
    async fn last_response(&self, job: Option<String>) -> StoreResult<Option<ResponseRecord>>;
    async fn response_history(
        &self,
        job: Option<String>,
        limit: usize,
        before: Option<i64>,
    ) -> StoreResult<Page<ResponseRecord>>;
    async fn response_statistics(&self, job: Option<String>) -> StoreResult<ResponseStatistics>;
    /// The read-only check of CheckEntropyResponseNeeded.
    async fn check_response_needed(
        &self,
        job: String,
        threshold: f64,
        cooldown_seconds: i64,
        diversity: DiversityQuery,
    ) -> StoreResult<ResponseCheck>;

    // Patterns and entropy.
    /// O(patterns) at most, whatever the number of applications.
    async fn population_entropy(&self) -> StoreResult<PopulationEntropy>;
    /// The entropy of a window and/or scope; the all-time population
    /// (`population_entropy`) for the default query. O(patterns x
    /// [`crate::domain::diversity::MAX_BUCKETS`]) at most.
    async fn diversity(&self, query: DiversityQuery) -> StoreResult<PopulationEntropy>;
    /// Newest `calculated_at` first.
    async fn snapshot_history(
        &self,
        limit: usize,
        before: Option<(String, i64)>,
    ) -> StoreResult<Page<EntropySnapshot>>;
    /// Oldest first, after the page key's position.
    async fn list_patterns(
        &self,
        status: Option<QuarantineStatus>,
        limit: usize,
        after: Option<i64>,
    ) -> StoreResult<Page<PatternRecord>>;

    // Writes.
    /// Runs `write` as one transaction and answers once it is committed (and
    /// durable as configured). With `once`, at most once per key: a later
    /// call with the same key gets the first run's bytes back and writes
    /// nothing; the same key with another request is InvalidArgument.
    async fn write(&self, write: Write, once: Option<Idempotent>) -> StoreResult<WriteOutcome>;
    /// Deletes up to `batch` idempotency keys created before `before`.
    async fn prune_request_ids(&self, before: DateTime<Utc>, batch: usize) -> StoreResult<usize>;
    fn write_counts(&self) -> WriteCounts;
    /// Deletes one bounded batch of history that `retention` lets go (at
    /// most `batch` rows per history); a batch of zero means none is left.
    async fn prune_history(&self, retention: Retention, batch: usize) -> StoreResult<Pruned>;

    // Streams (see [`stream`] for the position contract).
    /// At most `limit` records after `after`, in position order; a record
    /// the backend could not read is None (see [`Streamed`]).
    async fn budget_after(
        &self,
        after: Position,
        limit: usize,
    ) -> StoreResult<Streamed<BudgetRecord>>;
    async fn responses_after(
        &self,
        after: Position,
        limit: usize,
    ) -> StoreResult<Streamed<ResponseRecord>>;
    async fn snapshots_after(
        &self,
        after: Position,
        limit: usize,
    ) -> StoreResult<Streamed<EntropySnapshot>>;
    async fn stream_bounds(&self, table: StreamTable) -> StoreResult<StreamBounds>;
    /// The position after which the `count` most recent matching records lie
    /// (the end of the table for 0).
    async fn backfill_start(
        &self,
        table: StreamTable,
        filter: StreamFilter,
        count: usize,
    ) -> StoreResult<Position>;
    /// Changes after this process's commits and after each look for writes
    /// of other programs; the tails read new records when it changes.
    fn wakeups(&self) -> watch::Receiver<Wakeup>;

    // Health and lifecycle.
    /// Whether the store can read and write right now. Never blocks an async
    /// worker: file-system calls run on a blocking thread.
    async fn probe(&self, write_timeout: Duration) -> Result<(), StoreFault>;
    /// Commits what is queued, then stops; waits at most `grace` for a write
    /// that is stuck (a lock held by another program). Later calls fail with
    /// UNAVAILABLE. Blocking.
    fn close(&self, grace: Duration);

    // Conveniences over `write`, for the loops the service runs itself
    // (their records' explanations say so: AUTOMATIC, no request_id).
    async fn record_snapshot(&self, snapshot: EntropySnapshot) -> StoreResult<EntropySnapshot> {
        match self.write(Write::RecordSnapshot(snapshot), None).await? {
            WriteOutcome::Written(Written::Snapshot(stored)) => Ok(stored),
            other => Err(unexpected(&other)),
        }
    }

    async fn respond_if_needed(
        &self,
        job: String,
        threshold: f64,
        cooldown_seconds: i64,
        config: ResponseConfig,
        diversity: DiversityQuery,
    ) -> StoreResult<(ResponseCheck, Option<ResponseRecord>)> {
        let write = Write::RespondIfNeeded {
            job,
            threshold,
            cooldown_seconds,
            config,
            diversity,
            automatic: true,
        };
        match self.write(write, None).await? {
            WriteOutcome::Written(Written::Responded { check, response }) => Ok((check, response)),
            other => Err(unexpected(&other)),
        }
    }

    /// [`Store::budget_history`], or Unchanged when the job's records are
    /// still at version `known` (in the read's snapshot). Backends that keep
    /// no versions read the page every time.
    async fn budget_history_since(
        &self,
        job: Option<String>,
        limit: usize,
        before: Option<i64>,
        known: Option<Version>,
    ) -> StoreResult<Versioned<Page<BudgetRecord>>> {
        let _ = known;
        let value = self.budget_history(job, limit, before).await?;
        Ok(Versioned::Read {
            value,
            version: None,
        })
    }
}

/// A backend answered a write with the wrong kind of result (a defect).
pub fn unexpected(outcome: &WriteOutcome) -> StoreError {
    StoreError::internal(format!("a write answered {outcome:?}"))
}

/// Opens the store at `location` (run it before serving: opening SQLite
/// blocks the thread).
pub async fn open(location: &StoreLocation, options: StoreOptions) -> StoreResult<Arc<dyn Store>> {
    match location {
        StoreLocation::Sqlite(path) => Ok(Arc::new(sqlite::SqliteStore::open(path, options)?)),
        StoreLocation::Postgres(url) => Ok(Arc::new(
            postgres::PostgresStore::connect(url, &options.postgres)
                .await?
                .with_instance_id(options.instance_id)
                .with_write_queue(options.write_queue_capacity),
        )),
    }
}
