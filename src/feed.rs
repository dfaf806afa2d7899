//! Fan-out of newly recorded rows to stream subscribers.
//!
//! The store stays the source of truth. For each streamed table one refresher
//! task reads the records committed since its high-water mark (whenever the
//! store's wake-up signal changes: after every commit of this service, and
//! after each look for records written by other programs) into a bounded
//! in-memory tail shared by every subscriber. A subscriber reads
//! from the tail when its position is still covered, and from the store
//! otherwise, so a slow subscriber is never dropped and never skips a row,
//! and a thousand subscribers cost one query per commit, not a thousand.
//! The tail holds each record with its stream message, converted and encoded
//! once when the tail reads it: subscribers send those bytes as they are.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::{
        Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{sync::watch, task::JoinHandle};

use crate::{
    api::codec::Encoded,
    domain::records::{BudgetRecord, EntropySnapshot, ResponseRecord},
    store::{Position, Store, StoreResult, StreamTable, Streamed},
};

/// Rows kept in memory per table.
const TAIL_CAPACITY: usize = 4096;
/// Rows read from the store per query.
pub const READ_BATCH: usize = 512;

type Fetched<T> = StoreResult<Streamed<T>>;
/// A row of a tail: None for a row the store could not read, which keeps
/// its place so that streams move past it.
pub type TailRow<T> = (Position, Option<Arc<Entry<T>>>);
type Fetch<T> =
    Arc<dyn Fn(Position, usize) -> Pin<Box<dyn Future<Output = Fetched<T>> + Send>> + Send + Sync>;

/// A streamed table's record as its stream sends it (the API layer knows how).
pub trait StreamRecord: Send + Sync + 'static {
    /// The stream message of this record, recorded at `at`.
    fn message(&self, at: Position) -> Encoded;
}

/// A record and its stream message, encoded once for every subscriber.
pub struct Entry<T> {
    /// What subscribers' filters look at.
    pub record: T,
    pub message: Encoded,
}

/// Counts the encodings (`learning_stream_messages_encoded_total`), so that
/// operators can compare them with the messages sent.
fn entry<T: StreamRecord>(table: StreamTable, at: Position, record: T) -> Arc<Entry<T>> {
    metrics::counter!(ENCODED_METRIC, "table" => label(table)).increment(1);
    Arc::new(Entry {
        message: record.message(at),
        record,
    })
}

pub const ENCODED_METRIC: &str = "learning_stream_messages_encoded_total";

/// The table's name in metrics, as retention names it.
fn label(table: StreamTable) -> &'static str {
    match table {
        StreamTable::Budget => "budget",
        StreamTable::Responses => "responses",
        StreamTable::Snapshots => "snapshots",
    }
}

/// What the tail holds after a position.
pub enum TailRead<T> {
    /// The rows after the position (at most the asked number).
    Rows(Vec<TailRow<T>>),
    /// Nothing after the position has been seen yet: wait for a change.
    Waiting,
    /// The position is older than the tail: read from the store.
    Behind,
}

struct TailState<T> {
    rows: VecDeque<TailRow<T>>,
    /// Every record with a position in (covered_from, high_water] is in `rows`.
    covered_from: Position,
    high_water: Position,
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

impl<T: StreamRecord> Tail<T> {
    fn new(table: StreamTable, high_water: Position, fetch: Fetch<T>) -> Self {
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

    pub fn high_water(&self) -> Position {
        self.read_state().high_water
    }

    /// The state, also after a panic while it was written: every change to
    /// it leaves it consistent, so a poisoned lock must not stop the streams.
    fn read_state(&self) -> RwLockReadGuard<'_, TailState<T>> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, TailState<T>> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn read_after(&self, position: Position, max: usize) -> TailRead<T> {
        let state = self.read_state();
        if position >= state.high_water {
            return TailRead::Waiting;
        }
        if position < state.covered_from {
            return TailRead::Behind;
        }
        let start = state.rows.partition_point(|(at, _)| *at <= position);
        TailRead::Rows(state.rows.iter().skip(start).take(max).cloned().collect())
    }

    /// Rows after `position` from the store (for subscribers behind the tail).
    pub async fn fetch_after(
        &self,
        position: Position,
        max: usize,
    ) -> StoreResult<Vec<TailRow<T>>> {
        let rows = (self.fetch)(position, max).await?;
        Ok(rows
            .into_iter()
            .map(|(at, row)| (at, row.map(|row| entry(self.table, at, row))))
            .collect())
    }

    /// Keeps the tail current while a stream reads it. With no stream, new
    /// rows are not read at all (that cost a query and a record conversion
    /// per commit); once a stream subscribes, the tail starts over from the
    /// table's end, and a stream behind that reads from the store.
    /// `polled`: also look for rows deleted by another program.
    async fn keep_current(&self, store: &dyn Store, polled: bool) -> StoreResult<()> {
        if self.changed.receiver_count() == 0 {
            self.stale.store(true, Ordering::Relaxed);
            return Ok(());
        }
        if self.stale.load(Ordering::Relaxed) {
            let end = store.stream_bounds(self.table).await?.end();
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
            let mut state = self.write_state();
            for (at, row) in rows {
                state.high_water = at;
                state
                    .rows
                    .push_back((at, row.map(|row| entry(self.table, at, row))));
            }
            while state.rows.len() > TAIL_CAPACITY {
                if let Some((evicted, _)) = state.rows.pop_front() {
                    state.covered_from = evicted;
                }
            }
            drop(state);
            self.changed.send_modify(|version| *version += 1);
            if !full {
                return Ok(());
            }
        }
    }

    /// Starts over from `high_water` (rows were deleted under the tail).
    fn reset(&self, high_water: Position) {
        let mut state = self.write_state();
        state.rows.clear();
        state.covered_from = high_water;
        state.high_water = high_water;
        drop(state);
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
    pub async fn start(store: Arc<dyn Store>) -> StoreResult<Self> {
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
async fn tail<T, F, R>(
    store: &Arc<dyn Store>,
    table: StreamTable,
    read: F,
) -> StoreResult<Arc<Tail<T>>>
where
    T: StreamRecord,
    F: Fn(Arc<dyn Store>, Position, usize) -> R + Send + Sync + 'static,
    R: Future<Output = Fetched<T>> + Send + 'static,
{
    let end = store.stream_bounds(table).await?.end();
    let source = store.clone();
    let fetch: Fetch<T> =
        Arc::new(move |after, limit| Box::pin(read(source.clone(), after, limit)));
    Ok(Arc::new(Tail::new(table, end, fetch)))
}

async fn refresh_loop(
    store: Arc<dyn Store>,
    budget: Arc<Tail<BudgetRecord>>,
    responses: Arc<Tail<ResponseRecord>>,
    snapshots: Arc<Tail<EntropySnapshot>>,
) {
    let mut wakeups = store.wakeups();
    let mut polls = wakeups.borrow().polls;
    loop {
        if wakeups.changed().await.is_err() {
            return;
        }
        let wakeup = *wakeups.borrow_and_update();
        let polled = wakeup.polls != polls;
        polls = wakeup.polls;
        let results = [
            budget.keep_current(&*store, polled).await,
            responses.keep_current(&*store, polled).await,
            snapshots.keep_current(&*store, polled).await,
        ];
        for error in results.into_iter().filter_map(Result::err) {
            tracing::warn!(%error, "cannot read new rows for subscribers");
        }
    }
}

/// Rows deleted at the end of a table (another program cleared it) leave the
/// tail ahead of the store; new rows would reuse rowids below its mark.
async fn detect_reset<T: StreamRecord>(store: &dyn Store, tail: &Tail<T>) {
    if let Ok(bounds) = store.stream_bounds(tail.table()).await {
        let end = bounds.end();
        if end < tail.high_water() {
            tracing::warn!(table = ?tail.table(), end = end.value(), "rows were deleted; streams restart from the store");
            tail.reset(end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl StreamRecord for u32 {
        fn message(&self, _: Position) -> Encoded {
            Encoded::of(self)
        }
    }

    fn tail_over(rows: Vec<(i64, u32)>) -> Tail<u32> {
        let fetch: Fetch<u32> = Arc::new(move |after: Position, max: usize| {
            let rows: Streamed<u32> = rows
                .iter()
                .filter_map(|(at, row)| Some((Position::new(*at)?, Some(*row))))
                .filter(|(at, _)| *at > after)
                .take(max)
                .collect();
            Box::pin(async move { Ok(rows) })
        });
        Tail::new(StreamTable::Snapshots, Position::START, fetch)
    }

    /// A panic while the tail's lock was held must not leave subscribers
    /// waiting forever: the tail keeps reading and serving rows.
    #[tokio::test]
    async fn a_poisoned_tail_keeps_serving() {
        let tail = Arc::new(tail_over(vec![(1, 10), (2, 20)]));
        let _subscriber = tail.subscribe();
        let poisoner = tail.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = poisoner.state.write().unwrap();
            panic!("poison the tail's lock");
        })
        .join();
        assert!(panicked.is_err() && tail.state.is_poisoned());
        tail.refresh().await.unwrap();
        assert_eq!(tail.high_water(), Position::new(2).unwrap());
        match tail.read_after(Position::START, 10) {
            TailRead::Rows(rows) => {
                let values: Vec<u32> = rows
                    .iter()
                    .flat_map(|(_, row)| row.as_deref())
                    .map(|entry| entry.record)
                    .collect();
                assert_eq!(values, vec![10, 20]);
            }
            _ => panic!("the tail does not serve its rows"),
        }
    }
}
