//! The PostgreSQL backend: one database shared by any number of replicas of
//! the service (`--db postgres://...`).
//!
//! Crates: tokio-postgres (the pure-Rust, async client of the PostgreSQL
//! protocol; no libpq and no database at build time), deadpool-postgres (its
//! pool: async checkout with a timeout, a prepared-statement cache per
//! connection, recycling of broken connections; simpler than bb8 for
//! tokio-postgres) and tokio-postgres-rustls (TLS on the rustls the gRPC side
//! already uses).
//!
//! # Guarantees across replicas
//!
//! - Every write is one transaction ([`tx::with_retry`] retries 40001 and
//!   40P01 with backoff; a client never sees them). Read-then-write
//!   operations first lock a row that every writer of what they read takes:
//!   a CALCULATE (and an update, for the previous record its explanation
//!   names) locks its job's statistics row (`budget::lock_job`), so a
//!   CALCULATE on replica A waits for one of the same job on B, then reads
//!   B's committed record, while other jobs go on; an entropy response locks
//!   the counter rows of the budget and the responses (below) as well.
//! - Locks are taken in one order (a job's budget row, the stream counters,
//!   the all-jobs statistics rows), and the rows every writer shares (the
//!   counter, the all-jobs row) last, in one pipelined round trip just before
//!   COMMIT (`budget::insert`), since they are held until COMMIT.
//! - Idempotency keys are claimed in the write's transaction (see
//!   `idempotency`): retries on two replicas write once.
//! - Budget writes commit in groups (`group`): those queued on a replica
//!   while its previous group commits share one transaction and one WAL
//!   flush, at most one per job and `request_id` per group, sorted by job;
//!   the other writes run in a transaction each.
//! - Statistics counters and each pattern's application count are updated in
//!   the same transaction as the write (`stats`, `patterns`), not by triggers;
//!   retention takes the rows it deletes back out of them in the delete's
//!   transaction (`retention`, `uncount`).
//!
//! # Stream positions follow commit order (the proof)
//!
//! Each streamed table has a row in `ls_counters`. A transaction that inserts
//! into the table runs `UPDATE ls_counters SET value = value + 1 ...
//! RETURNING value` (for the budget, in the statement of the insert) and
//! stamps its record with that value (`pos`). The UPDATE
//! takes the row lock, held until the transaction ends. So if T1 got `p` and
//! T2 got `p + 1`, T2's UPDATE waited until T1 had committed (a rolled-back
//! T1 leaves the counter at `p - 1`, and T2 gets `p`): T1's commit precedes
//! T2's. A reader whose snapshot shows `p + 1` was taken after T2 committed,
//! hence after T1 committed: it shows `p` too. Therefore no record at or below
//! a position a reader has seen can appear later, and positions are dense
//! (no gap but deleted rows), on every replica, whichever replica wrote. The
//! counter serialises the writers of one table; the transactions are a few
//! statements on one connection, so the lock is held for a few round trips.
//!
//! Sequences and identity columns would not do: their values are taken at
//! insert time, not at commit (A takes 5, B takes 6, B commits first).
//!
//! # Wake-ups
//!
//! A poll of the counters every [`poll::INTERVAL`] (200 ms) wakes the stream
//! tails when any replica committed; this replica's own commits wake them at
//! once. No LISTEN/NOTIFY: nothing depends on a notification arriving.
//!
//! # Portable SQL
//!
//! Every statement must also run on CockroachDB and YugabyteDB. The subset:
//! plain tables with BIGINT, DOUBLE PRECISION, TEXT, BOOLEAN and BYTEA
//! columns; single-column or composite primary keys and plain indexes;
//! `INSERT ... ON CONFLICT ... DO NOTHING / DO UPDATE` with `excluded`;
//! `UPDATE ... RETURNING`; `SELECT ... FOR UPDATE`; `LIMIT`/`OFFSET` with
//! bound parameters; `coalesce`, `lower`, `abs`, `LEAST`, `GREATEST`, `CASE`;
//! transactions at the default isolation and `REPEATABLE READ READ ONLY`
//! reads. Not used: advisory locks, sequences, SERIAL or identity columns,
//! system columns (`xmin`, `ctid`, `oid`), xid or snapshot functions,
//! LISTEN/NOTIFY, triggers, stored functions, temporary tables. The test in
//! `portable` scans every statement of this folder and fails on any of them.

mod budget;
mod conn;
mod contract;
mod diversity;
mod explanations;
mod group;
mod idempotency;
pub mod import;
mod ops;
mod page;
mod patterns;
mod poll;
mod portable;
mod responses;
mod retention;
pub mod schema;
mod snapshots;
mod sql;
mod stats;
mod streams;
mod tls;
mod tx;
mod uncount;
mod url;

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::watch;

pub use group::LANES;
pub use url::{PostgresUrl, SslMode};

use crate::store::{StoreError, StoreResult, Wakeup};
use conn::Conn;

/// Pool and connection settings (`--pg-*` flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Connections per replica.
    pub pool_size: usize,
    /// Budget write groups committing at once per replica (see `group`).
    pub write_lanes: usize,
    /// How long a new connection may take (TCP, TLS, authentication).
    pub connect_timeout: Duration,
    /// How long a call waits for a free connection before UNAVAILABLE.
    pub wait_timeout: Duration,
    /// CA of the database's certificate (overrides the URL's `sslrootcert`).
    pub ca: Option<PathBuf>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            write_lanes: group::LANES,
            connect_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(5),
            ca: None,
        }
    }
}

/// The PostgreSQL store. See the module documentation.
pub struct PostgresStore {
    pool: Pool,
    wakeups: watch::Receiver<Wakeup>,
    poller: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The budget writes, committed in groups (see `group`).
    groups: group::GroupCommit,
    instance_id: String,
}

impl PostgresStore {
    /// Connects, applies the migrations, and starts the poll and the write lanes.
    pub async fn connect(url: &PostgresUrl, options: &PostgresOptions) -> StoreResult<Self> {
        let pool = connect_pool(url, options).await?;
        let (sender, wakeups) = watch::channel(Wakeup::default());
        let wakeup_sender = Arc::new(sender);
        let poller = poll::start(pool.clone(), wakeup_sender.clone());
        let side = Arc::new(group::WriteSide::new(pool.clone(), wakeup_sender));
        let lanes = options.write_lanes.clamp(1, options.pool_size.max(1));
        Ok(Self {
            pool,
            wakeups,
            poller: Mutex::new(Some(poller)),
            groups: group::GroupCommit::start(side, lanes),
            instance_id: crate::store::default_instance_id(),
        })
    }

    /// Names this store's writer in explanations (default: this process's id).
    pub fn with_instance_id(mut self, instance_id: String) -> Self {
        self.instance_id = instance_id;
        self
    }

    /// Writes queued at once before RESOURCE_EXHAUSTED (`--write-queue`).
    pub fn with_write_queue(mut self, capacity: usize) -> Self {
        self.groups.set_capacity(capacity);
        self
    }

    /// A connection for one call; see [`conn`] for why a call must
    /// [`Conn::finish`] it.
    async fn client(&self) -> StoreResult<Conn> {
        self.groups.side().client().await
    }

    fn stop(&self) {
        if let Ok(mut poller) = self.poller.lock()
            && let Some(task) = poller.take()
        {
            task.abort();
        }
        self.groups.close();
        self.pool.close();
    }
}

/// The pool of `url`, once a first connection has applied the migrations.
async fn connect_pool(url: &PostgresUrl, options: &PostgresOptions) -> StoreResult<Pool> {
    let mut config = url.config().map_err(StoreError::Refused)?;
    config.connect_timeout(options.connect_timeout);
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match url.ssl {
        SslMode::Disable => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
        SslMode::Verify => {
            let ca = options.ca.as_deref().or(url.root_cert.as_deref());
            Manager::from_config(config, tls::connector(ca)?, manager_config)
        }
    };
    let pool = Pool::builder(manager)
        .max_size(options.pool_size.max(1))
        .wait_timeout(Some(options.wait_timeout))
        .create_timeout(Some(options.connect_timeout))
        .recycle_timeout(Some(options.connect_timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Refused(format!("cannot set up the connection pool: {e}")))?;
    let mut client = pool
        .get()
        .await
        .map_err(|e| StoreError::Refused(format!("cannot connect to the database {url}: {e}")))?;
    schema::ensure(&mut client).await?;
    Ok(pool)
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.stop();
    }
}
