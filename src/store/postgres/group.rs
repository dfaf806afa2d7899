//! Group commit of budget writes: the budget writes that reach a replica
//! while its previous group commits are committed together, in one
//! transaction and one WAL flush.
//!
//! Why: every budget write takes the table's stream counter row with its
//! COMMIT and holds it through the flush (see the module documentation of
//! the backend for why positions need that). One write per transaction caps
//! every replica together at one write per WAL flush; in a group, the writes
//! of many callers share the counter's hold and the flush.
//!
//! How, and why it keeps the guarantees:
//! - A write goes to one of [`LANES`] queues by its job, so one job's writes
//!   keep their order, and a lane runs one group at a time on one connection.
//! - A write of a job reads the job's latest record; when an earlier write of
//!   the same group wrote it, that record is only in the `tx::Tail` (its
//!   insert goes with the COMMIT), so the tail answers the read
//!   (`budget::lock_job`), and one job's writes in a group run one after
//!   the other, in their order. The first holds the job's lock for all.
//! - A group holds at most one write per `request_id` (a retry must find the
//!   first call's committed response); a write left for the next group
//!   holds back the writes of its job queued behind it.
//! - The jobs of a group run concurrently on the one connection, which
//!   pipelines their statements; each write's own statements still run one
//!   after the other, so its job's lock is held before its read. Jobs are
//!   sorted, so that every group, on every replica, locks jobs in one order
//!   (which leaves cross-replica deadlocks to a job's first record;
//!   PostgreSQL detects them and [`with_retry`] runs the group again).
//! - A group commits or rolls back as a whole, and its callers are answered
//!   after that. If a write failed (a reused `request_id`, an unexpected
//!   error), the group rolls back and each write runs alone, so it fails
//!   alone; when the database is unavailable, all fail, since alone they
//!   would too.

use std::{
    collections::{HashSet, VecDeque},
    hash::{DefaultHasher, Hash, Hasher},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot, watch};

use super::{
    Conn, idempotency, ops,
    tx::{Tail, TxResult, WriteTransaction, into_store_error, with_retry},
};
use crate::{
    domain::explanation::Provenance,
    store::{Idempotent, StoreError, StoreResult, Wakeup, Write, WriteCounts, WriteOutcome},
};

/// Queues (and connections writing groups at once) per replica, by default
/// (`--pg-write-lanes`). Each lane's group runs its statements one after the
/// other on one PostgreSQL backend; two lanes gave more adjustments/s than
/// one, four or eight, with one replica and with two (BENCHMARKS.md, "Write
/// lanes").
pub const LANES: usize = 2;
/// Most writes in one group: its COMMIT round trip carries four statements
/// per write.
pub const MAX_GROUP: usize = 128;

/// The job whose budget `write` writes, for the writes that commit in groups.
pub fn job_of(write: &Write) -> Option<&str> {
    match write {
        Write::UpdateBudget { job, .. } | Write::CalculateAdjustment { job, .. } => Some(job),
        _ => None,
    }
}

/// What every write of this replica shares: the pool, the commit counts and
/// the wake-up of the stream tails.
pub struct WriteSide {
    pool: Pool,
    wakeups: Arc<watch::Sender<Wakeup>>,
    operations: AtomicU64,
    commits: AtomicU64,
    largest_group: AtomicU64,
    queued: AtomicU64,
}

impl WriteSide {
    pub fn new(pool: Pool, wakeups: Arc<watch::Sender<Wakeup>>) -> Self {
        Self {
            pool,
            wakeups,
            operations: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            largest_group: AtomicU64::new(0),
            queued: AtomicU64::new(0),
        }
    }

    /// A connection for one call; see `conn` for why a call must
    /// `Conn::finish` it.
    pub async fn client(&self) -> StoreResult<Conn> {
        if self.pool.is_closed() {
            return Err(StoreError::closed());
        }
        self.pool
            .get()
            .await
            .map(Conn::new)
            .map_err(|e| into_store_error(e.into()))
    }

    pub fn counts(&self) -> WriteCounts {
        WriteCounts {
            queued: self.queued.load(Ordering::Relaxed),
            operations: self.operations.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            largest_batch: self.largest_group.load(Ordering::Relaxed),
        }
    }

    /// Wakes this replica's stream tails after a commit of `writes` writes.
    fn committed(&self, writes: usize) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.largest_group
            .fetch_max(writes as u64, Ordering::Relaxed);
        self.wakeups.send_modify(|w| w.commits += 1);
    }

    fn queue_depth(&self, change: i64) {
        let depth = if change >= 0 {
            self.queued.fetch_add(change as u64, Ordering::Relaxed) + change as u64
        } else {
            let taken = change.unsigned_abs();
            self.queued.fetch_sub(taken, Ordering::Relaxed) - taken
        };
        metrics::gauge!("learning_store_write_queue_depth").set(depth as f64);
    }

    /// Runs one write in a transaction of its own (retried), then wakes the tails.
    pub async fn write_alone(
        &self,
        write: &Write,
        once: Option<&Idempotent>,
        provenance: &Provenance,
    ) -> StoreResult<WriteOutcome> {
        let outcome = with_retry(|| async move {
            self.operations.fetch_add(1, Ordering::Relaxed);
            let client = self.client().await?;
            let outcome = write_once(&client, write, once, provenance).await;
            client.finish();
            outcome
        })
        .await?;
        self.committed(1);
        Ok(outcome)
    }
}

/// One attempt of a write alone: one transaction, BEGIN to COMMIT, the
/// statements on rows every writer shares sent with the COMMIT (`Tail`).
async fn write_once(
    client: &Conn,
    write: &Write,
    once: Option<&Idempotent>,
    provenance: &Provenance,
) -> TxResult<WriteOutcome> {
    let transaction = WriteTransaction::begin(client).await?;
    let tail = Tail::default();
    let outcome = run(transaction.client(), &tail, write, once, provenance).await;
    match outcome {
        Ok(outcome) => transaction.commit(&tail).await.map(|()| outcome),
        Err(failure) => transaction.rollback(failure).await,
    }
}

/// A write's statements inside an open transaction (with its key, if any).
async fn run(
    c: &deadpool_postgres::Object,
    tail: &Tail,
    write: &Write,
    once: Option<&Idempotent>,
    provenance: &Provenance,
) -> TxResult<WriteOutcome> {
    match once {
        None => ops::run(c, tail, write, provenance)
            .await
            .map(WriteOutcome::Written),
        Some(once) => idempotency::run_once(c, tail, once, write, provenance).await,
    }
}

/// A write waiting in a lane, with where its answer goes.
struct Queued {
    write: Write,
    once: Option<Idempotent>,
    provenance: Provenance,
    reply: oneshot::Sender<StoreResult<WriteOutcome>>,
}

impl Queued {
    fn job(&self) -> &str {
        job_of(&self.write).unwrap_or_default()
    }

    fn request_id(&self) -> Option<&str> {
        self.once.as_ref().map(|once| once.key.request_id.as_str())
    }
}

/// The lanes of one replica; closed by [`GroupCommit::close`].
pub struct GroupCommit {
    side: Arc<WriteSide>,
    lanes: Mutex<Option<Vec<mpsc::UnboundedSender<Queued>>>>,
    capacity: usize,
}

impl GroupCommit {
    /// Starts the lanes' tasks.
    pub fn start(side: Arc<WriteSide>, lanes: usize) -> Self {
        let senders = (0..lanes.max(1))
            .map(|_| {
                let (sender, queue) = mpsc::unbounded_channel();
                tokio::spawn(lane(side.clone(), queue));
                sender
            })
            .collect();
        Self {
            side,
            lanes: Mutex::new(Some(senders)),
            capacity: crate::store::StoreOptions::default().write_queue_capacity,
        }
    }

    /// Bounds the writes queued at once.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
    }

    pub fn side(&self) -> &WriteSide {
        &self.side
    }

    /// Queues a budget write (see [`job_of`]) and waits for its group's commit.
    pub async fn write(
        &self,
        write: Write,
        once: Option<Idempotent>,
        provenance: Provenance,
    ) -> StoreResult<WriteOutcome> {
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            write,
            once,
            provenance,
            reply,
        };
        self.enqueue(queued)?;
        answer.await.unwrap_or_else(|_| Err(StoreError::closed()))
    }

    fn enqueue(&self, queued: Queued) -> StoreResult<()> {
        if self.side.queued.load(Ordering::Relaxed) >= self.capacity as u64 {
            return Err(StoreError::Overloaded);
        }
        let lanes = self.lanes.lock().map_err(|_| StoreError::closed())?;
        let lanes = lanes.as_ref().ok_or_else(StoreError::closed)?;
        let mut hasher = DefaultHasher::new();
        queued.job().hash(&mut hasher);
        let lane = &lanes[(hasher.finish() % lanes.len() as u64) as usize];
        self.side.queue_depth(1);
        lane.send(queued).map_err(|_| {
            self.side.queue_depth(-1);
            StoreError::closed()
        })
    }

    /// Refuses new writes; the lanes end once their queues are empty.
    pub fn close(&self) {
        if let Ok(mut lanes) = self.lanes.lock() {
            lanes.take();
        }
    }
}

/// One lane: takes what is queued, commits it as groups, one at a time.
async fn lane(side: Arc<WriteSide>, mut queue: mpsc::UnboundedReceiver<Queued>) {
    let mut waiting = VecDeque::new();
    loop {
        if waiting.is_empty() {
            match queue.recv().await {
                Some(queued) => waiting.push_back(queued),
                None => return,
            }
        }
        while let Ok(queued) = queue.try_recv() {
            waiting.push_back(queued);
        }
        let group = take_group(&mut waiting);
        side.queue_depth(-(group.len() as i64));
        commit_group(&side, group).await;
    }
}

/// The oldest writes that may share a group (see the module documentation),
/// sorted by job, each job's in their order; the others stay in `waiting`.
fn take_group(waiting: &mut VecDeque<Queued>) -> Vec<Queued> {
    let mut request_ids: HashSet<String> = HashSet::new();
    let mut held_back: HashSet<String> = HashSet::new();
    let mut group = Vec::new();
    let mut left = VecDeque::new();
    for queued in waiting.drain(..) {
        let free = group.len() < MAX_GROUP
            && !held_back.contains(queued.job())
            && queued
                .request_id()
                .is_none_or(|id| !request_ids.contains(id));
        if let Some(id) = queued.request_id() {
            request_ids.insert(id.to_owned());
        }
        if free {
            group.push(queued);
        } else {
            held_back.insert(queued.job().to_owned());
            left.push_back(queued);
        }
    }
    *waiting = left;
    // Stable: one lock order for every group on every replica, and each
    // job's writes in their order.
    group.sort_by(|a, b| a.job().cmp(b.job()));
    group
}

async fn commit_group(side: &WriteSide, group: Vec<Queued>) {
    let started = Instant::now();
    let size = group.len();
    let committed = with_retry(|| async {
        side.operations.fetch_add(size as u64, Ordering::Relaxed);
        let client = side.client().await?;
        let outcomes = group_once(&client, &group).await;
        client.finish();
        outcomes
    })
    .await;
    metrics::histogram!("learning_store_commit_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    metrics::histogram!("learning_store_write_batch_size").record(size as f64);
    match committed {
        Ok(outcomes) => {
            side.committed(size);
            for (queued, outcome) in group.into_iter().zip(outcomes) {
                // A caller that went away is not told; its write stands.
                let _ = queued.reply.send(Ok(outcome));
            }
        }
        Err(error) if size > 1 && !matches!(error, StoreError::Unavailable { .. }) => {
            tracing::debug!(%error, size, "a group failed; its writes run alone");
            for queued in group {
                let alone = side
                    .write_alone(&queued.write, queued.once.as_ref(), &queued.provenance)
                    .await;
                let _ = queued.reply.send(alone);
            }
        }
        Err(error) => {
            for queued in group {
                let _ = queued.reply.send(Err(error.clone()));
            }
        }
    }
}

/// One attempt of a group: one transaction, its jobs pipelined on the
/// connection (each job's writes in turn), every shared statement with the
/// COMMIT. The outcomes are in the group's order.
async fn group_once(client: &Conn, group: &[Queued]) -> TxResult<Vec<WriteOutcome>> {
    let transaction = WriteTransaction::begin(client).await?;
    let (c, tail) = (transaction.client(), Tail::default());
    let tail = &tail;
    let jobs = group
        .chunk_by(|a, b| a.job() == b.job())
        .map(|writes| async move {
            let mut outcomes = Vec::with_capacity(writes.len());
            for queued in writes {
                let once = queued.once.as_ref();
                outcomes.push(run(c, tail, &queued.write, once, &queued.provenance).await?);
            }
            TxResult::Ok(outcomes)
        });
    match futures_util::future::try_join_all(jobs).await {
        Ok(outcomes) => {
            let outcomes = outcomes.into_iter().flatten().collect();
            transaction.commit(tail).await.map(|()| outcomes)
        }
        Err(failure) => transaction.rollback(failure).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::budget::AdjustmentParams;

    fn queued(job: &str, request_id: Option<&str>) -> Queued {
        let once = request_id.map(|id| Idempotent {
            key: crate::store::IdempotencyKey::new("CalculateBudgetAdjustment", id.into(), b""),
            encode: Box::new(|_| Vec::new()),
        });
        Queued {
            write: Write::CalculateAdjustment {
                job: job.into(),
                current_entropy: 0.5,
                params: AdjustmentParams::default(),
            },
            once,
            provenance: Provenance::default(),
            reply: oneshot::channel().0,
        }
    }

    fn jobs(writes: &[Queued]) -> Vec<&str> {
        writes.iter().map(Queued::job).collect()
    }

    #[test]
    fn a_group_sorts_by_job_and_keeps_each_jobs_order() {
        let mut waiting: VecDeque<_> = [("b", "1"), ("a", "2"), ("b", "3"), ("c", "4"), ("a", "5")]
            .into_iter()
            .map(|(job, id)| queued(job, Some(id)))
            .collect();
        let group = take_group(&mut waiting);
        assert_eq!(jobs(&group), ["a", "a", "b", "b", "c"]);
        let ids: Vec<_> = group.iter().filter_map(Queued::request_id).collect();
        assert_eq!(ids, ["2", "5", "1", "3", "4"]);
        assert!(waiting.is_empty());
    }

    #[test]
    fn a_write_left_for_later_holds_back_its_job() {
        // The second "r1" waits for the first's commit; the later write of
        // its job "c" must not overtake it, other jobs go on.
        let mut waiting: VecDeque<_> = [
            queued("a", Some("r1")),
            queued("c", Some("r1")),
            queued("c", None),
            queued("d", None),
            queued("a", None),
        ]
        .into_iter()
        .collect();
        let group = take_group(&mut waiting);
        assert_eq!(jobs(&group), ["a", "a", "d"]);
        assert_eq!(jobs(waiting.make_contiguous()), ["c", "c"]);
        assert_eq!(jobs(&take_group(&mut waiting)), ["c", "c"]);
    }

    #[test]
    fn a_group_is_bounded() {
        let mut waiting: VecDeque<_> = (0..MAX_GROUP + 5)
            .map(|n| queued(&format!("job-{n:04}"), None))
            .collect();
        assert_eq!(take_group(&mut waiting).len(), MAX_GROUP);
        assert_eq!(waiting.len(), 5);
    }

    #[test]
    fn only_budget_writes_are_grouped() {
        assert_eq!(job_of(&queued("a", None).write), Some("a"));
        let application = Write::RecordApplication {
            pattern_id: "p".into(),
            execution_id: "e".into(),
            led_to_success: true,
        };
        assert_eq!(job_of(&application), None);
    }
}
