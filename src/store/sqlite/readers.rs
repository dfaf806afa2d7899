//! The read threads: a fixed set of threads that take reads from one shared
//! queue, each on a connection of the read pool. Under load a thread runs
//! queued reads back to back without sleeping in between, so a read costs a
//! hand-off and the caller's wake-up. (With `spawn_blocking`, every read woke
//! a parked thread and put it back to sleep: most of a point read's cost.)
//! Each thread keeps the connection it took from the pool (a checkout per
//! read locked the pool twice), and the gauges are looked up once.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, Mutex},
    thread::JoinHandle,
};

use crossbeam_channel::{Receiver, Sender, unbounded};
use metrics::Gauge;
use r2d2_sqlite::SqliteConnectionManager;
use tokio::sync::{Semaphore, oneshot};

use crate::store::{StoreError, StoreResult};

type Pool = r2d2::Pool<SqliteConnectionManager>;
type Connection = r2d2::PooledConnection<SqliteConnectionManager>;
type ReadJob = Box<dyn FnOnce(&mut ReadThread) + Send>;

/// Reads queued beyond this wait on the async side (no thread, no memory
/// but the caller's own future). A read's admission permit travels with its
/// job and is given back only when a thread has taken the job, so a
/// cancelled caller does not free room while its job still waits.
const MAX_QUEUED_PER_THREAD: usize = 256;

pub struct Readers {
    queue: Mutex<Option<Sender<ReadJob>>>,
    admitted: Arc<Semaphore>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    queued: Gauge,
}

/// What a read thread holds: its connection, taken from the pool at start
/// (and again after a failed read left it unusable), and its gauges.
struct ReadThread {
    pool: Pool,
    connection: Option<Connection>,
    queued: Gauge,
    in_use: Gauge,
}

impl ReadThread {
    fn connection(&mut self) -> StoreResult<&mut Connection> {
        if self.connection.is_none() {
            self.connection = Some(self.pool.get()?);
        }
        self.connection
            .as_mut()
            .ok_or_else(|| StoreError::internal("no read connection"))
    }
}

impl Readers {
    /// Starts `count` threads sharing `pool` (which should hold as many
    /// connections).
    pub fn start(pool: Pool, count: u32) -> StoreResult<Self> {
        Self::start_with_room(pool, count, count.max(1) as usize * MAX_QUEUED_PER_THREAD)
    }

    /// [`Self::start`] with `room` reads admitted at once.
    fn start_with_room(pool: Pool, count: u32, room: usize) -> StoreResult<Self> {
        let (queue, jobs) = unbounded::<ReadJob>();
        let queued = metrics::gauge!("learning_store_read_queue_depth");
        let in_use = metrics::gauge!("learning_store_read_connections_in_use");
        let threads = (0..count.max(1))
            .map(|n| {
                let jobs = jobs.clone();
                // Opened now, not at the first read: reads must go on from
                // the open file even if it is renamed before that read.
                let connection = pool.get()?;
                let mut thread = ReadThread {
                    pool: pool.clone(),
                    connection: Some(connection),
                    queued: queued.clone(),
                    in_use: in_use.clone(),
                };
                std::thread::Builder::new()
                    .name(format!("sqlite-read-{n}"))
                    .spawn(move || run(&mut thread, &jobs))
                    .map_err(|e| StoreError::internal(format!("cannot start a read thread: {e}")))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        metrics::gauge!("learning_store_read_connections").set(threads.len() as f64);
        Ok(Self {
            queue: Mutex::new(Some(queue)),
            admitted: Arc::new(Semaphore::new(room)),
            threads: Mutex::new(threads),
            queued,
        })
    }

    /// Runs `operation` on a read thread with a pooled connection.
    pub async fn run<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let admitted = self
            .admitted
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::closed())?;
        let (reply, answer) = oneshot::channel::<StoreResult<T>>();
        let job: ReadJob = Box::new(move |thread| {
            thread.queued.decrement(1.0);
            if reply.is_closed() {
                // The caller is gone (cancelled, timed out): nobody reads the answer.
                return;
            }
            thread.in_use.increment(1.0);
            let result = thread.connection().and_then(operation);
            thread.in_use.decrement(1.0);
            // The room is free before the caller hears back.
            drop(admitted);
            let _ = reply.send(result);
        });
        // Counted before the send: a read thread may take the job first.
        let queued = &self.queued;
        queued.increment(1.0);
        // An unbounded send never blocks: the lock is held for a push.
        let sent = self
            .queue
            .lock()
            .map_err(|_| StoreError::closed())?
            .as_ref()
            .ok_or_else(StoreError::closed)?
            .send(job)
            .map_err(|_| StoreError::closed());
        if sent.is_err() {
            queued.decrement(1.0);
        }
        sent?;
        // The reply is dropped unanswered only if the read panicked.
        answer
            .await
            .map_err(|_| StoreError::internal("a read failed unexpectedly"))?
    }

    /// Lets queued reads finish, then stops the threads. Later reads fail with Closed.
    pub fn close(&self) {
        self.admitted.close();
        if let Ok(mut queue) = self.queue.lock() {
            queue.take();
        }
        let threads = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        self.close();
    }
}

fn run(thread: &mut ReadThread, jobs: &Receiver<ReadJob>) {
    for job in jobs.iter() {
        if catch_unwind(AssertUnwindSafe(|| job(thread))).is_err() {
            // The read may have left its transaction open: end it, or the
            // next read on this connection could not begin its own.
            if let Some(connection) = thread.connection.as_mut()
                && !connection.is_autocommit()
                && connection.execute_batch("ROLLBACK").is_err()
            {
                thread.connection = None;
            }
            tracing::error!("a read panicked; its caller gets INTERNAL");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readers(threads: u32) -> (tempfile::TempDir, Readers) {
        readers_with_room(threads, threads as usize * MAX_QUEUED_PER_THREAD)
    }

    fn readers_with_room(threads: u32, room: usize) -> (tempfile::TempDir, Readers) {
        let dir = tempfile::tempdir().unwrap();
        let manager = SqliteConnectionManager::file(dir.path().join("r.db"));
        let pool = r2d2::Pool::builder()
            .max_size(threads)
            .build(manager)
            .unwrap();
        (dir, Readers::start_with_room(pool, threads, room).unwrap())
    }

    /// A cancelled caller's job keeps its admission until a thread takes it,
    /// and is then skipped: admission bounds the queued jobs, cancelled or not.
    #[tokio::test]
    async fn cancelled_reads_keep_their_room_until_skipped() {
        let (_dir, readers) = readers_with_room(1, 4);
        let readers = Arc::new(readers);
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel::<()>();
        let blocker = {
            let readers = readers.clone();
            tokio::spawn(async move {
                readers
                    .run(move |_| {
                        let _ = started.send(());
                        let _ = held.recv();
                        Ok(())
                    })
                    .await
            })
        };
        running.await.unwrap();
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for _ in 0..3 {
            let ran = ran.clone();
            let read = readers.run(move |_| {
                ran.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            });
            // Polled until queued, then dropped: the caller gives up.
            let mut read = Box::pin(read);
            assert!(futures_poll_once(&mut read).await.is_none());
        }
        assert_eq!(
            readers.admitted.available_permits(),
            0,
            "cancelled jobs freed their room"
        );
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        readers.run(|_| Ok(())).await.unwrap();
        assert_eq!(
            ran.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "cancelled jobs ran"
        );
        assert_eq!(readers.admitted.available_permits(), 4);
    }

    /// Polls `future` once; None when it is still pending.
    async fn futures_poll_once<F: std::future::Future + Unpin>(
        future: &mut F,
    ) -> Option<F::Output> {
        std::future::poll_fn(|context| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut *future).poll(context) {
                std::task::Poll::Ready(output) => Some(output),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }

    #[tokio::test]
    async fn a_panicking_read_fails_alone_and_the_threads_go_on() {
        let (_dir, readers) = readers(1);
        // It panics inside its read transaction, on the thread's one connection.
        let failed = readers
            .run(|c| -> StoreResult<()> {
                c.execute_batch("BEGIN; SELECT 1;")?;
                panic!("boom")
            })
            .await;
        assert!(
            matches!(failed, Err(StoreError::Internal { .. })),
            "{failed:?}"
        );
        let value = readers
            .run(|c| {
                c.execute_batch("BEGIN")?;
                let value = c.query_row("SELECT 41 + 1", [], |r| r.get::<_, i64>(0))?;
                c.execute_batch("COMMIT")?;
                Ok(value)
            })
            .await
            .unwrap();
        assert_eq!(value, 42);
    }

    #[tokio::test]
    async fn reads_run_side_by_side_and_stop_at_close() {
        let (_dir, readers) = readers(2);
        let readers = std::sync::Arc::new(readers);
        // Two reads that each wait for the other: only two threads finish them.
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let both: Vec<_> = (0..2)
            .map(|_| {
                let (readers, barrier) = (readers.clone(), barrier.clone());
                tokio::spawn(
                    async move { readers.run(move |_| Ok(barrier.wait().is_leader())).await },
                )
            })
            .collect();
        let mut leaders = 0;
        for read in both {
            leaders += read.await.unwrap().unwrap() as u32;
        }
        assert_eq!(leaders, 1);
        readers.close();
        let closed = readers.run(|_| Ok(())).await;
        assert!(
            matches!(closed, Err(StoreError::Unavailable { .. })),
            "{closed:?}"
        );
    }
}
