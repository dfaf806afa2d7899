//! Durability off the writer thread. With `--durability full`, the writer
//! commits with `synchronous=NORMAL` (WAL frames written, not yet fsynced)
//! and hands the batch here; this thread fsyncs the WAL file and only then
//! acknowledges the batch. While it waits for the disk, the writer already
//! runs the next batch, so the fsync and the SQL work overlap, and one fsync
//! covers every batch committed before it started.
//!
//! Trade-off: a committed batch is visible to readers (and to later writes)
//! for the duration of its fsync before it is acknowledged. If power fails in
//! that window, the batch is lost together with every later one (the WAL is
//! sequential), and its callers never got an acknowledgement.

use std::{
    fs::File,
    sync::{
        Arc,
        mpsc::{Receiver, Sender, channel},
    },
    thread::JoinHandle,
};

use tokio::sync::watch;

use super::error::{StoreError, StoreResult};

/// Delivers an operation's result once the outcome of its commit is known.
pub type Completion = Box<dyn FnOnce(StoreResult<()>) + Send>;

pub struct Syncer {
    queue: Option<Sender<Vec<Completion>>>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// `wal` is the database's `-wal` file: fsync through any descriptor
    /// flushes the file.
    pub fn start(wal: File, commits: Arc<watch::Sender<u64>>) -> StoreResult<Self> {
        let (queue, batches) = channel();
        let thread = std::thread::Builder::new()
            .name("sqlite-fsync".into())
            .spawn(move || run(&wal, batches, &commits))
            .map_err(|e| StoreError::Internal(format!("cannot start the fsync thread: {e}")))?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Acknowledges `batch`, committed but not yet durable, after the next fsync.
    pub fn submit(&self, batch: Vec<Completion>) {
        let Some(queue) = &self.queue else {
            return fail(batch);
        };
        if let Err(returned) = queue.send(batch) {
            fail(returned.0);
        }
    }
}

impl Drop for Syncer {
    /// Acknowledges everything submitted, then stops the thread.
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn fail(batch: Vec<Completion>) {
    for completion in batch {
        completion(Err(StoreError::Closed));
    }
}

fn run(wal: &File, batches: Receiver<Vec<Completion>>, commits: &watch::Sender<u64>) {
    while let Ok(first) = batches.recv() {
        let mut ready = vec![first];
        ready.extend(batches.try_iter());
        // fdatasync: the frames and the file size, not the modification time.
        let synced = wal.sync_data().map_err(|error| {
            tracing::error!(%error, "cannot fsync the WAL; writes are not acknowledged");
            StoreError::Internal(format!("cannot make the write durable (fsync): {error}"))
        });
        if synced.is_ok() {
            commits.send_modify(|count| *count += 1);
        }
        for completion in ready.into_iter().flatten() {
            completion(synced.clone());
        }
    }
}
