//! The read threads: a fixed set of threads that take reads from one shared
//! queue, each on a connection of the read pool. Under load a thread runs
//! queued reads back to back without sleeping in between, so a read costs a
//! hand-off and the caller's wake-up. (With `spawn_blocking`, every read woke
//! a parked thread and put it back to sleep: most of a point read's cost.)

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::Mutex,
    thread::JoinHandle,
};

use crossbeam_channel::{Receiver, Sender, unbounded};
use r2d2_sqlite::SqliteConnectionManager;
use tokio::sync::{Semaphore, oneshot};

use super::error::{StoreError, StoreResult};

type Pool = r2d2::Pool<SqliteConnectionManager>;
type Connection = r2d2::PooledConnection<SqliteConnectionManager>;
type ReadJob = Box<dyn FnOnce(&Pool) + Send>;

/// Reads queued beyond this wait on the async side (no thread, no memory
/// but the caller's own future).
const MAX_QUEUED_PER_THREAD: usize = 256;

pub struct Readers {
    queue: Mutex<Option<Sender<ReadJob>>>,
    admitted: Semaphore,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Readers {
    /// Starts `count` threads sharing `pool` (which should hold as many
    /// connections).
    pub fn start(pool: Pool, count: u32) -> StoreResult<Self> {
        let (queue, jobs) = unbounded::<ReadJob>();
        let threads = (0..count.max(1))
            .map(|n| {
                let (pool, jobs) = (pool.clone(), jobs.clone());
                std::thread::Builder::new()
                    .name(format!("sqlite-read-{n}"))
                    .spawn(move || run(&pool, &jobs))
                    .map_err(|e| StoreError::Internal(format!("cannot start a read thread: {e}")))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        metrics::gauge!("learning_store_read_connections").set(threads.len() as f64);
        Ok(Self {
            queue: Mutex::new(Some(queue)),
            admitted: Semaphore::new(threads.len() * MAX_QUEUED_PER_THREAD),
            threads: Mutex::new(threads),
        })
    }

    /// Runs `operation` on a read thread with a pooled connection.
    pub async fn run<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let _admitted = self
            .admitted
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |pool| {
            metrics::gauge!("learning_store_read_queue_depth").decrement(1.0);
            let in_use = metrics::gauge!("learning_store_read_connections_in_use");
            in_use.increment(1.0);
            let result = pool
                .get()
                .map_err(StoreError::from)
                .and_then(|mut connection| operation(&mut connection));
            in_use.decrement(1.0);
            let _ = reply.send(result);
        });
        // Counted before the send: a read thread may take the job first.
        let queued = metrics::gauge!("learning_store_read_queue_depth");
        queued.increment(1.0);
        // An unbounded send never blocks: the lock is held for a push.
        let sent = self
            .queue
            .lock()
            .map_err(|_| StoreError::Closed)?
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(job)
            .map_err(|_| StoreError::Closed);
        if sent.is_err() {
            queued.decrement(1.0);
        }
        sent?;
        // The reply is dropped unanswered only if the read panicked.
        answer
            .await
            .map_err(|_| StoreError::Internal("a read failed unexpectedly".into()))?
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

fn run(pool: &Pool, jobs: &Receiver<ReadJob>) {
    for job in jobs.iter() {
        if catch_unwind(AssertUnwindSafe(|| job(pool))).is_err() {
            tracing::error!("a read panicked; its caller gets INTERNAL");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readers(threads: u32) -> (tempfile::TempDir, Readers) {
        let dir = tempfile::tempdir().unwrap();
        let manager = SqliteConnectionManager::file(dir.path().join("r.db"));
        let pool = r2d2::Pool::builder()
            .max_size(threads)
            .build(manager)
            .unwrap();
        (dir, Readers::start(pool, threads).unwrap())
    }

    #[tokio::test]
    async fn a_panicking_read_fails_alone_and_the_threads_go_on() {
        let (_dir, readers) = readers(1);
        let failed = readers.run(|_| -> StoreResult<()> { panic!("boom") }).await;
        assert!(matches!(failed, Err(StoreError::Internal(_))), "{failed:?}");
        let value = readers
            .run(|c| Ok(c.query_row("SELECT 41 + 1", [], |r| r.get::<_, i64>(0))?))
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
        assert!(matches!(closed, Err(StoreError::Closed)), "{closed:?}");
    }
}
