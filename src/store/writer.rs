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
};

use rusqlite::Connection;
use tokio::sync::{oneshot, watch};

use super::error::{StoreError, StoreResult};

/// Delivers an operation's result once the commit outcome is known.
type Completion = Box<dyn FnOnce(StoreResult<()>) + Send>;
/// Runs an operation on the connection, or fails it when no transaction could
/// begin; also hands back the operation's error, if any.
type Job =
    Box<dyn FnOnce(Result<&Connection, StoreError>) -> (Completion, Option<StoreError>) + Send>;

enum Message {
    Run(Job),
    Stop,
}

/// Largest number of operations committed together.
const MAX_BATCH: usize = 512;

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
            let error = result.as_ref().err().cloned();
            let completion: Completion = Box::new(move |committed: StoreResult<()>| {
                let _ = reply.send(committed.and(result));
            });
            (completion, error)
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
    if result.is_err() && connection.is_autocommit() {
        // SQLite rolled the whole transaction back itself (disk full, I/O
        // error): the savepoint is gone, and the error is the cause to report.
        return result;
    }
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

fn commit_batch(connection: &Connection, batch: Vec<Job>, commits: &watch::Sender<u64>) {
    if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
        let error = StoreError::from(error);
        tracing::error!(%error, "cannot begin a write transaction");
        for job in batch {
            (job(Err(error.clone())).0)(Err(error.clone()));
        }
        return;
    }
    let mut completions: Vec<Completion> = Vec::with_capacity(batch.len());
    // Set when SQLite rolled the transaction back: the rest of the batch must
    // not run, or each would commit on its own (autocommit) and then be told
    // it failed.
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
                StoreError::Internal("the write transaction ended unexpectedly".into())
            }));
        }
    }
    let committed = match rolled_back {
        Some(cause) => Err(cause),
        None => connection.execute_batch("COMMIT").map_err(StoreError::from),
    };
    if committed.is_err() {
        let _ = connection.execute_batch("ROLLBACK");
    } else {
        commits.send_modify(|count| *count += 1);
    }
    for completion in completions {
        completion(committed.clone());
    }
}
