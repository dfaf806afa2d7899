//! WAL checkpoints on a thread of their own. SQLite's automatic checkpoint
//! runs inside the COMMIT that crosses the threshold, so the writer (and every
//! caller waiting on its batch) would stall for two fsyncs and a copy of the
//! WAL into the database. A PASSIVE checkpoint here runs beside the writer
//! instead. The writer keeps a far higher automatic threshold as a backstop,
//! should this thread fall behind.

use std::{
    sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel},
    thread::JoinHandle,
    time::Duration,
};

use rusqlite::Connection;

use super::error::{StoreError, StoreResult};

/// How often the WAL is copied into the database.
const INTERVAL: Duration = Duration::from_millis(50);
/// The writer's own automatic checkpoint (pages), should this thread fall behind.
pub const BACKSTOP_FRAMES: i64 = 20_000;

pub struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(connection: Connection) -> StoreResult<Self> {
        let (stop, stopped) = channel();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&connection, &stopped))
            .map_err(|e| StoreError::Internal(format!("cannot start the checkpointer: {e}")))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(connection: &Connection, stopped: &Receiver<()>) {
    loop {
        match stopped.recv_timeout(INTERVAL) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        if let Err(error) = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(%error, "WAL checkpoint failed");
        }
    }
}
