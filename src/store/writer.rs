//! The one write path: a dedicated thread owns the write connection and runs
//! queued operations. Operations that queue up together share one transaction
//! and one fsync (group commit); each runs inside its own savepoint, so one
//! failing operation is rolled back alone and the others still commit.
//! Results are handed back only after the commit, so nothing is acknowledged
//! before it is durable.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use rusqlite::{Connection, ErrorCode};
use tokio::sync::{oneshot, watch};

use super::error::{StoreError, StoreResult};

/// Delivers an operation's result once the commit outcome is known.
type Completion = Box<dyn FnOnce(StoreResult<()>) + Send>;
/// Runs an operation on the connection, or fails it when no transaction could begin.
type Job = Box<dyn FnOnce(Result<&Connection, StoreError>) -> Completion + Send>;

enum Message {
    Run(Job),
    Stop,
}

/// Largest number of operations committed together.
const MAX_BATCH: usize = 512;

/// Another program writing the same file (the original store) may hold the
/// lock for longer than the connection's busy_timeout. The writer then keeps
/// trying, with backoff, for this long before it fails the queued writes.
const MAX_LOCKED_WAIT: Duration = Duration::from_secs(300);
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

pub struct Writer {
    queue: SyncSender<Message>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the writer thread. `commits` is bumped after every commit that
    /// ran at least one successful operation.
    pub fn start(
        connection: Connection,
        capacity: usize,
        commits: watch::Sender<u64>,
    ) -> StoreResult<Self> {
        let (queue, jobs) = sync_channel(capacity);
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(connection, jobs, commits))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            queue,
            thread: std::sync::Mutex::new(Some(thread)),
        })
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
            Box::new(move |committed: StoreResult<()>| {
                let _ = reply.send(committed.and(result));
            })
        });
        match self.queue.try_send(Message::Run(job)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(StoreError::Overloaded),
            Err(TrySendError::Disconnected(_)) => return Err(StoreError::Closed),
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Finishes every queued operation, then stops the thread.
    pub fn close(&self) {
        let _ = self.queue.send(Message::Stop);
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

fn in_savepoint<T>(
    connection: &Connection,
    operation: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    connection.execute_batch("SAVEPOINT operation")?;
    let result = catch_unwind(AssertUnwindSafe(|| operation(connection)))
        .unwrap_or_else(|_| Err(StoreError::Internal("a write operation panicked".into())));
    let end = if result.is_ok() {
        "RELEASE operation"
    } else {
        "ROLLBACK TO operation; RELEASE operation"
    };
    connection.execute_batch(end)?;
    result
}

fn run(connection: Connection, jobs: Receiver<Message>, commits: watch::Sender<u64>) {
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
            commit_batch(&connection, batch, &commits);
        }
    }
    // Anything queued after Stop is refused: dropping its reply makes the caller see Closed.
}

fn is_locked(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Runs `sql` (BEGIN or COMMIT: both may be retried after SQLITE_BUSY),
/// retrying while the database is locked by someone else.
fn execute_when_unlocked(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        match connection.execute_batch(sql) {
            Err(error) if is_locked(&error) && started.elapsed() < MAX_LOCKED_WAIT => {
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

fn commit_batch(connection: &Connection, batch: Vec<Job>, commits: &watch::Sender<u64>) {
    if let Err(error) = execute_when_unlocked(connection, "BEGIN IMMEDIATE") {
        let error = StoreError::from(error);
        tracing::error!(%error, "cannot begin a write transaction");
        for job in batch {
            job(Err(error.clone()))(Err(error.clone()));
        }
        return;
    }
    let completions: Vec<Completion> = batch.into_iter().map(|job| job(Ok(connection))).collect();
    let committed = execute_when_unlocked(connection, "COMMIT").map_err(StoreError::from);
    if committed.is_err() {
        let _ = connection.execute_batch("ROLLBACK");
    } else {
        commits.send_modify(|count| *count += 1);
    }
    for completion in completions {
        completion(committed.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (commits, _) = watch::channel(0);
        let writer = Writer::start(writer_connection, 16, commits).unwrap();

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
        writer.close();
    }
}
