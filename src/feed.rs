//! Fan-out of newly recorded rows to stream subscribers.
//!
//! The store stays the source of truth. For each streamed table one refresher
//! task reads the rows recorded since its high-water mark (after every commit
//! of this service, and on a short poll for rows written by other programs)
//! into a bounded in-memory tail shared by every subscriber. A subscriber reads
//! from the tail when its position is still covered, and from the store
//! otherwise, so a slow subscriber is never dropped and never skips a row,
//! and a thousand subscribers cost one query per commit, not a thousand.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::{sync::watch, task::JoinHandle};

use crate::{
    domain::records::{BudgetRecord, EntropySnapshot, ResponseRecord},
    store::{Store, StoreResult, StreamTable},
};

/// Rows kept in memory per table.
const TAIL_CAPACITY: usize = 4096;
/// Rows read from the store per query.
pub const READ_BATCH: usize = 512;
/// How often rows written by other programs are looked for.
const EXTERNAL_POLL: Duration = Duration::from_millis(500);

type Fetch<T> = Arc<
    dyn Fn(i64, usize) -> Pin<Box<dyn Future<Output = StoreResult<Vec<(i64, T)>>> + Send>>
        + Send
        + Sync,
>;

/// What the tail holds after a position.
pub enum TailRead<T> {
    /// The rows after the position (at most the asked number).
    Rows(Vec<(i64, Arc<T>)>),
    /// Nothing after the position has been seen yet: wait for a change.
    Waiting,
    /// The position is older than the tail: read from the store.
    Behind,
}

struct TailState<T> {
    rows: VecDeque<(i64, Arc<T>)>,
    /// Every row with rowid in (covered_from, high_water] is in `rows`.
    covered_from: i64,
    high_water: i64,
}

/// The most recent rows of one table.
pub struct Tail<T> {
    table: StreamTable,
    state: RwLock<TailState<T>>,
    changed: watch::Sender<u64>,
    fetch: Fetch<T>,
    /// Rows were recorded while no stream read this tail, and not read.
    stale: AtomicBool,
}

impl<T: Send + Sync + 'static> Tail<T> {
    fn new(table: StreamTable, high_water: i64, fetch: Fetch<T>) -> Self {
        Self {
            table,
            state: RwLock::new(TailState {
                rows: VecDeque::new(),
                covered_from: high_water,
                high_water,
            }),
            changed: watch::channel(0).0,
            fetch,
            stale: AtomicBool::new(false),
        }
    }

    pub fn table(&self) -> StreamTable {
        self.table
    }

    /// Notified whenever new rows arrive.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub fn high_water(&self) -> i64 {
        self.state.read().map(|s| s.high_water).unwrap_or(i64::MAX)
    }

    pub fn read_after(&self, position: i64, max: usize) -> TailRead<T> {
        let Ok(state) = self.state.read() else {
            return TailRead::Behind;
        };
        if position >= state.high_water {
            return TailRead::Waiting;
        }
        if position < state.covered_from {
            return TailRead::Behind;
        }
        let start = state.rows.partition_point(|(rowid, _)| *rowid <= position);
        TailRead::Rows(state.rows.iter().skip(start).take(max).cloned().collect())
    }

    /// Rows after `position` from the store (for subscribers behind the tail).
    pub async fn fetch_after(&self, position: i64, max: usize) -> StoreResult<Vec<(i64, Arc<T>)>> {
        let rows = (self.fetch)(position, max).await?;
        Ok(rows
            .into_iter()
            .map(|(rowid, row)| (rowid, Arc::new(row)))
            .collect())
    }

    /// Keeps the tail current while a stream reads it. With no stream, new
    /// rows are not read at all (that cost a query and a record conversion
    /// per commit); once a stream subscribes, the tail starts over from the
    /// table's end, and a stream behind that reads from the store.
    /// `polled`: also look for rows deleted by another program.
    async fn keep_current(&self, store: &Store, polled: bool) -> StoreResult<()> {
        if self.changed.receiver_count() == 0 {
            self.stale.store(true, Ordering::Relaxed);
            return Ok(());
        }
        if self.stale.load(Ordering::Relaxed) {
            let end = store.rowid_bounds(self.table).await?.max.unwrap_or(0);
            self.reset(end);
            self.stale.store(false, Ordering::Relaxed);
        }
        self.refresh().await?;
        if polled {
            detect_reset(store, self).await;
        }
        Ok(())
    }

    /// Reads every row recorded since the high-water mark into the tail.
    async fn refresh(&self) -> StoreResult<()> {
        loop {
            let high_water = self.high_water();
            let rows = (self.fetch)(high_water, READ_BATCH).await?;
            let full = rows.len() == READ_BATCH;
            if rows.is_empty() {
                return Ok(());
            }
            if let Ok(mut state) = self.state.write() {
                for (rowid, row) in rows {
                    state.high_water = rowid;
                    state.rows.push_back((rowid, Arc::new(row)));
                }
                while state.rows.len() > TAIL_CAPACITY {
                    if let Some((evicted, _)) = state.rows.pop_front() {
                        state.covered_from = evicted;
                    }
                }
            }
            self.changed.send_modify(|version| *version += 1);
            if !full {
                return Ok(());
            }
        }
    }

    /// Starts over from `high_water` (rows were deleted under the tail).
    fn reset(&self, high_water: i64) {
        if let Ok(mut state) = self.state.write() {
            state.rows.clear();
            state.covered_from = high_water;
            state.high_water = high_water;
        }
        self.changed.send_modify(|version| *version += 1);
    }
}

/// The tails of every streamed table and the task that keeps them fresh.
pub struct Feeds {
    pub budget: Arc<Tail<BudgetRecord>>,
    pub responses: Arc<Tail<ResponseRecord>>,
    pub snapshots: Arc<Tail<EntropySnapshot>>,
    refresher: JoinHandle<()>,
}

impl Drop for Feeds {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

impl Feeds {
    /// Starts the tails at the current end of each table.
    pub async fn start(store: Arc<Store>) -> StoreResult<Self> {
        let budget = tail(
            &store,
            StreamTable::Budget,
            |store, after, limit| async move { store.budget_after(after, limit).await },
        )
        .await?;
        let responses = tail(
            &store,
            StreamTable::Responses,
            |store, after, limit| async move { store.responses_after(after, limit).await },
        )
        .await?;
        let snapshots = tail(
            &store,
            StreamTable::Snapshots,
            |store, after, limit| async move { store.snapshots_after(after, limit).await },
        )
        .await?;
        let refresher = tokio::spawn(refresh_loop(
            store,
            budget.clone(),
            responses.clone(),
            snapshots.clone(),
        ));
        Ok(Self {
            budget,
            responses,
            snapshots,
            refresher,
        })
    }
}

/// A tail starting at the current end of `table`, reading with `read`.
async fn tail<T, F, R>(store: &Arc<Store>, table: StreamTable, read: F) -> StoreResult<Arc<Tail<T>>>
where
    T: Send + Sync + 'static,
    F: Fn(Arc<Store>, i64, usize) -> R + Send + Sync + 'static,
    R: Future<Output = StoreResult<Vec<(i64, T)>>> + Send + 'static,
{
    let end = store.rowid_bounds(table).await?.max.unwrap_or(0);
    let source = store.clone();
    let fetch: Fetch<T> =
        Arc::new(move |after, limit| Box::pin(read(source.clone(), after, limit)));
    Ok(Arc::new(Tail::new(table, end, fetch)))
}

async fn refresh_loop(
    store: Arc<Store>,
    budget: Arc<Tail<BudgetRecord>>,
    responses: Arc<Tail<ResponseRecord>>,
    snapshots: Arc<Tail<EntropySnapshot>>,
) {
    let mut commits = store.commits();
    let mut poll = tokio::time::interval(EXTERNAL_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let polled = tokio::select! {
            changed = commits.changed() => {
                if changed.is_err() {
                    return;
                }
                false
            }
            _ = poll.tick() => true,
        };
        let results = [
            budget.keep_current(&store, polled).await,
            responses.keep_current(&store, polled).await,
            snapshots.keep_current(&store, polled).await,
        ];
        for error in results.into_iter().filter_map(Result::err) {
            tracing::warn!(%error, "cannot read new rows for subscribers");
        }
    }
}

/// Rows deleted at the end of a table (another program cleared it) leave the
/// tail ahead of the store; new rows would reuse rowids below its mark.
async fn detect_reset<T: Send + Sync + 'static>(store: &Store, tail: &Tail<T>) {
    if let Ok(bounds) = store.rowid_bounds(tail.table()).await {
        let end = bounds.max.unwrap_or(0);
        if end < tail.high_water() {
            tracing::warn!(table = ?tail.table(), end, "rows were deleted; streams restart from the store");
            tail.reset(end);
        }
    }
}
