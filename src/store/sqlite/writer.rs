//! The one write path: a dedicated thread owns the write connection and runs
//! queued operations. Operations that queue up together share one transaction
//! and one fsync (group commit); each runs inside its own savepoint, so one
//! failing operation is rolled back alone and the others still commit.
//! Results are handed back only after the commit, so nothing is acknowledged
//! before it is durable.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use rusqlite::{Connection, ErrorCode};
use tokio::sync::{oneshot, watch};

use super::file_watch::FileWatch;
use crate::store::{StoreError, StoreResult, Wakeup, WriteCounts};

/// Delivers an operation's result once the outcome of its commit is known.
type Completion = Box<dyn FnOnce(StoreResult<()>) + Send>;

/// Runs an operation on the connection, or fails it when no transaction could
/// begin; also hands back the operation's error, if any.
type Job =
    Box<dyn FnOnce(Result<&Connection, StoreError>) -> (Completion, Option<StoreError>) + Send>;

enum Message {
    Run(Job),
    Stop,
}

/// Largest number of operations committed together. Batches form by
/// themselves: whatever queued during the previous commit's fsync is taken
/// at once, so under load one fsync serves every waiting caller.
const MAX_BATCH: usize = 512;

/// Another program writing the same file (the original store) may hold the
/// lock for longer than the connection's busy_timeout. The writer then keeps
/// trying, with backoff, for this long before it fails the queued writes.
const MAX_LOCKED_WAIT: Duration = Duration::from_secs(300);
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// Counts of the writer's work, to see that batches form.
#[derive(Debug, Default)]
pub struct WriteStats {
    /// Writes in the queue, not yet taken by the thread.
    queued: AtomicU64,
    operations: AtomicU64,
    commits: AtomicU64,
    largest_batch: AtomicU64,
}

impl WriteStats {
    pub fn counts(&self) -> WriteCounts {
        WriteCounts {
            queued: self.queued.load(Ordering::Relaxed),
            operations: self.operations.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
        }
    }

    /// One more write waits (the metrics' queue depth follows the count).
    fn enqueue(&self) {
        let queued = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::gauge!("learning_store_write_queue_depth").set(queued as f64);
    }

    fn dequeue(&self, writes: u64) {
        let queued = self.queued.fetch_sub(writes, Ordering::Relaxed) - writes;
        metrics::gauge!("learning_store_write_queue_depth").set(queued as f64);
    }

    fn record(&self, batch: usize) {
        self.dequeue(batch as u64);
        self.operations.fetch_add(batch as u64, Ordering::Relaxed);
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.largest_batch
            .fetch_max(batch as u64, Ordering::Relaxed);
    }
}

pub struct Writer {
    queue: SyncSender<Message>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
    /// Disconnected when the thread has finished.
    finished: std::sync::Mutex<Receiver<()>>,
    stats: Arc<WriteStats>,
    /// Set by [`Writer::close`]: a lock held by another program is no longer
    /// waited for, so a shutdown never waits for it.
    closing: Arc<AtomicBool>,
}

/// What the writer thread shares with the rest of the store.
struct Shared {
    wakeups: Arc<watch::Sender<Wakeup>>,
    file: Arc<FileWatch>,
    stats: Arc<WriteStats>,
    closing: Arc<AtomicBool>,
}

impl Writer {
    /// Starts the writer thread. `wakeups.commits` is bumped after every
    /// commit. Callers are answered as soon as their COMMIT returns (durable
    /// with the connection's `synchronous=FULL`); before it, `file` is
    /// checked, so no write is acknowledged into a file that is gone.
    pub fn start(
        connection: Connection,
        capacity: usize,
        wakeups: Arc<watch::Sender<Wakeup>>,
        file: Arc<FileWatch>,
    ) -> StoreResult<Self> {
        let (queue, jobs) = sync_channel(capacity);
        let (finish, finished) = std::sync::mpsc::channel::<()>();
        let shared = Shared {
            wakeups,
            file,
            stats: Arc::new(WriteStats::default()),
            closing: Arc::new(AtomicBool::new(false)),
        };
        let (stats, closing) = (shared.stats.clone(), shared.closing.clone());
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let _finish = finish;
                run(connection, jobs, &shared)
            })
            .map_err(|e| StoreError::internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            queue,
            thread: std::sync::Mutex::new(Some(thread)),
            finished: std::sync::Mutex::new(finished),
            stats,
            closing,
        })
    }

    pub fn counts(&self) -> WriteCounts {
        self.stats.counts()
    }

    /// Runs `operation` on the write connection, inside a transaction, and
    /// returns its result once committed.
    pub async fn write<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            let result = connection.and_then(|c| in_savepoint(c, operation));
            let error = result.as_ref().err().cloned();
            let completion: Completion = Box::new(move |committed: StoreResult<()>| {
                let _ = reply.send(committed.and(result));
            });
            (completion, error)
        });
        // Counted before the send, so the thread never takes an uncounted write.
        self.stats.enqueue();
        match self.queue.try_send(Message::Run(job)) {
            Ok(()) => {}
            Err(refused) => {
                self.stats.dequeue(1);
                return Err(match refused {
                    TrySendError::Full(_) => StoreError::Overloaded,
                    TrySendError::Disconnected(_) => StoreError::closed(),
                });
            }
        }
        answer.await.map_err(|_| StoreError::closed())?
    }

    /// Commits every queued operation that can commit now (a lock held by
    /// another program is no longer waited for), then stops the thread.
    /// Waits at most `grace` for it: a statement may still sit in SQLite's
    /// busy wait, and its callers were never answered, so nothing
    /// acknowledged is left behind.
    pub fn close(&self, grace: Duration) {
        self.closing.store(true, Ordering::Relaxed);
        let _ = self.queue.try_send(Message::Stop);
        let finished = self
            .finished
            .lock()
            .map(|finished| finished.recv_timeout(grace))
            .unwrap_or(Err(RecvTimeoutError::Disconnected));
        if finished == Err(RecvTimeoutError::Timeout) {
            tracing::warn!(
                ?grace,
                "the writer is still waiting for the database; not waiting longer"
            );
            return;
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// Runs one statement without parsing it again (these run for every write).
fn run_cached(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn in_savepoint<T>(
    connection: &Connection,
    operation: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    run_cached(connection, "SAVEPOINT operation")?;
    let result = catch_unwind(AssertUnwindSafe(|| operation(connection)))
        .unwrap_or_else(|_| Err(StoreError::internal("a write operation panicked")));
    if result.is_err() && connection.is_autocommit() {
        // SQLite rolled the whole transaction back itself (disk full, I/O
        // error): the savepoint is gone, and the error is the cause to report.
        return result;
    }
    if result.is_err() {
        run_cached(connection, "ROLLBACK TO operation")?;
    }
    run_cached(connection, "RELEASE operation")?;
    result
}

fn run(connection: Connection, jobs: Receiver<Message>, shared: &Shared) {
    let stats = &shared.stats;
    let mut stopping = false;
    while !stopping {
        let Ok(first) = jobs.recv() else { break };
        let mut batch = Vec::new();
        match first {
            Message::Run(job) => batch.push(job),
            Message::Stop => stopping = true,
        }
        while !stopping && batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(Message::Run(job)) => batch.push(job),
                Ok(Message::Stop) => stopping = true,
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            stats.record(batch.len());
            let batch_size = batch.len() as f64;
            let commit_started = Instant::now();
            let (completions, committed) = commit_batch(&connection, batch, shared);
            metrics::histogram!("learning_store_commit_duration_seconds")
                .record(commit_started.elapsed().as_secs_f64());
            metrics::histogram!("learning_store_write_batch_size").record(batch_size);
            if committed.is_ok() {
                shared.wakeups.send_modify(|wakeup| wakeup.commits += 1);
            }
            for completion in completions {
                completion(committed.clone());
            }
        }
    }
    let counts = stats.counts();
    tracing::info!(
        operations = counts.operations,
        commits = counts.commits,
        largest_batch = counts.largest_batch,
        "writer stopped"
    );
    // Anything queued after Stop is refused: dropping its reply makes the caller see Closed.
}

fn is_locked(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Runs `sql` (BEGIN or COMMIT: both may be retried after SQLITE_BUSY),
/// retrying while the database is locked by someone else, unless closing.
fn execute_when_unlocked(
    connection: &Connection,
    sql: &str,
    closing: &AtomicBool,
) -> rusqlite::Result<()> {
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        match run_cached(connection, sql) {
            Err(error)
                if is_locked(&error)
                    && started.elapsed() < MAX_LOCKED_WAIT
                    && !closing.load(Ordering::Relaxed) =>
            {
                tracing::warn!(
                    %error,
                    statement = sql,
                    waited_ms = started.elapsed().as_millis() as u64,
                    "database locked by another connection; retrying"
                );
                std::thread::sleep(pause);
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
            other => return other,
        }
    }
}

/// Runs a batch in one transaction; returns each operation's completion and
/// the outcome of the COMMIT.
fn commit_batch(
    connection: &Connection,
    batch: Vec<Job>,
    shared: &Shared,
) -> (Vec<Completion>, StoreResult<()>) {
    let closing = &shared.closing;
    if let Err(error) = execute_when_unlocked(connection, "BEGIN IMMEDIATE", closing) {
        let error = StoreError::from(error);
        tracing::error!(%error, "cannot begin a write transaction");
        let completions = batch
            .into_iter()
            .map(|job| job(Err(error.clone())).0)
            .collect();
        return (completions, Err(error));
    }
    let mut completions: Vec<Completion> = Vec::with_capacity(batch.len());
    // Set when SQLite rolled the transaction back (disk full, I/O error): the
    // rest of the batch must not run, or each would commit on its own
    // (autocommit) and then be told it failed.
    let mut rolled_back: Option<StoreError> = None;
    for job in batch {
        if let Some(cause) = &rolled_back {
            completions.push(job(Err(cause.clone())).0);
            continue;
        }
        let (completion, error) = job(Ok(connection));
        completions.push(completion);
        if connection.is_autocommit() {
            rolled_back = Some(error.unwrap_or_else(|| {
                StoreError::internal("the write transaction ended unexpectedly")
            }));
        }
    }
    let committed = match rolled_back {
        Some(cause) => Err(cause),
        // The file must still be the one at the path, or the batch would be
        // acknowledged into a file that is gone (one stat per batch).
        None => match shared.file.check() {
            Err(fault) => {
                tracing::error!(%fault, "writes refused");
                Err(fault.into())
            }
            Ok(()) => {
                execute_when_unlocked(connection, "COMMIT", closing).map_err(StoreError::from)
            }
        },
    };
    if committed.is_err() {
        let _ = run_cached(connection, "ROLLBACK");
    }
    (completions, committed)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn start(connection: Connection, path: &std::path::Path, capacity: usize) -> Writer {
        let (wakeups, _) = watch::channel(Wakeup::default());
        let file = Arc::new(FileWatch::new(path).unwrap());
        Writer::start(connection, capacity, Arc::new(wakeups), file).unwrap()
    }

    async fn wait_until(condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn writer(dir: &tempfile::TempDir) -> Writer {
        let connection = Connection::open(dir.path().join("w.db")).unwrap();
        connection
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER NOT NULL);")
            .unwrap();
        start(connection, &dir.path().join("w.db"), 1024)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_operation_does_not_fail_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Arc::new(writer(&dir));
        // Hold the writer so that the operations below queue up and share one commit.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .write(move |_| {
                        let _ = held.recv_timeout(Duration::from_secs(10));
                        Ok(())
                    })
                    .await
            })
        };
        wait_until(|| writer.counts().operations == 1).await;
        let mut tasks = Vec::new();
        for v in 0..40_i64 {
            let writer = writer.clone();
            tasks.push(tokio::spawn(async move {
                writer
                    .write(move |c| {
                        c.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
                        if v % 10 == 3 {
                            // Fails after writing: its insert must be rolled back alone.
                            return Err(StoreError::NotFound {
                                what: "row",
                                id: v.to_string(),
                            });
                        }
                        if v % 10 == 7 {
                            c.execute("INSERT INTO t (v) VALUES (NULL)", [])?;
                        }
                        Ok(v)
                    })
                    .await
            }));
        }
        wait_until(|| writer.counts().queued == 40).await;
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        let mut ok = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(v) => ok.push(v),
                Err(StoreError::NotFound { .. }) | Err(StoreError::Internal { .. }) => {}
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(ok.len(), 32);
        let check = Connection::open(dir.path().join("w.db")).unwrap();
        let stored: Vec<i64> = check
            .prepare("SELECT v FROM t ORDER BY v")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        ok.sort();
        assert_eq!(stored, ok);
        let counts = writer.counts();
        assert_eq!(counts.operations, 41);
        assert!(counts.commits <= 3, "no batch formed: {counts:?}");
        assert!(counts.largest_batch >= 20, "{counts:?}");
        writer.close(Duration::from_secs(5));
    }

    fn open(path: &std::path::Path, busy_timeout: Duration) -> Connection {
        let connection = Connection::open(path).unwrap();
        connection.busy_timeout(busy_timeout).unwrap();
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .unwrap();
        connection
    }

    #[tokio::test]
    async fn waits_out_a_lock_held_longer_than_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locked.db");
        let writer_connection = open(&path, Duration::from_millis(20));
        writer_connection
            .execute_batch("CREATE TABLE t (v INTEGER)")
            .unwrap();
        let writer = start(writer_connection, &path, 16);

        // Another program takes the write lock and keeps it for 25 busy_timeouts.
        let other = open(&path, Duration::from_secs(5));
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (locked, lock_taken) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            other.execute("INSERT INTO t VALUES (1)", []).unwrap();
            locked.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(500));
            other.execute_batch("COMMIT").unwrap();
            other
        });
        lock_taken.recv().unwrap();
        let started = Instant::now();
        let written = writer
            .write(|c| Ok(c.execute("INSERT INTO t VALUES (2)", [])?))
            .await;
        assert_eq!(written.unwrap(), 1);
        assert!(started.elapsed() >= Duration::from_millis(300));
        let other = holder.join().unwrap();
        let rows: i64 = other
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2);
        writer.close(Duration::from_secs(5));
    }
}
