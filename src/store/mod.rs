//! The store: every SQL statement and transaction of the service.
//!
//! Reads run on a pool of connections through `spawn_blocking`, each in one
//! read transaction (a consistent WAL snapshot that never waits for writers).
//! Writes go through the single [`writer::Writer`] thread.

mod budget;
mod entropy_history;
pub mod error;
pub mod fault;
mod file_watch;
mod json;
pub mod page;
mod patterns;
mod probe;
mod responses;
pub mod schema;
pub mod time;
mod writer;

use std::{path::Path, time::Duration};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;
use tokio::sync::watch;

pub use error::{StoreError, StoreResult};
pub use fault::StoreFault;
pub use page::{Page, PageKey};

/// How commits reach the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// Every commit is fsynced: an acknowledged write survives power loss.
    #[default]
    Full,
    /// WAL with synchronous=NORMAL: survives a crash of the service, but the
    /// last commits may be lost on power loss.
    Normal,
}

#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub durability: Durability,
    pub read_connections: u32,
    pub write_queue_capacity: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            read_connections: 8,
            write_queue_capacity: 4096,
        }
    }
}

pub struct Store {
    reads: r2d2::Pool<SqliteConnectionManager>,
    writer: writer::Writer,
    commits: watch::Receiver<u64>,
    file: file_watch::FileWatch,
}

fn configure(connection: &Connection, durability: Durability) -> rusqlite::Result<()> {
    connection.busy_timeout(Duration::from_secs(30))?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    connection.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = {synchronous};"
    ))
}

impl Store {
    /// Opens (creating if needed) the database file. Blocking.
    pub fn open(path: &Path, options: StoreOptions) -> StoreResult<Self> {
        fault::refuse_unwritable(path)?;
        schema::check_existing_file(path)?;
        let mut connection = Connection::open(path)?;
        fault::refuse_read_only(&connection, path)?;
        let file = file_watch::FileWatch::new(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        configure(&connection, options.durability)?;
        schema::ensure(&mut connection)?;

        let durability = options.durability;
        let manager = SqliteConnectionManager::file(path)
            .with_flags(
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_URI
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .with_init(move |c| configure(c, durability));
        let reads = r2d2::Pool::builder()
            .max_size(options.read_connections.max(1))
            .min_idle(Some(1))
            .build(manager)?;
        let (commit_sender, commits) = watch::channel(0);
        let writer =
            writer::Writer::start(connection, options.write_queue_capacity, commit_sender)?;
        Ok(Self {
            reads,
            writer,
            commits,
            file,
        })
    }

    /// Runs `operation` in one read transaction on a pooled connection, off
    /// the async workers.
    pub(crate) async fn read<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let pool = self.reads.clone();
        tokio::task::spawn_blocking(move || {
            let mut connection = pool.get()?;
            let transaction = connection.transaction()?;
            let result = operation(&transaction)?;
            transaction.commit()?;
            Ok(result)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?
    }

    /// Runs `operation` atomically on the write path; returns once committed.
    pub(crate) async fn write<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.file.refuse_writes()?;
        self.writer.write(operation).await
    }

    /// Changes after every commit of this service.
    pub fn commits(&self) -> watch::Receiver<u64> {
        self.commits.clone()
    }

    /// Finishes queued writes and stops the writer. Later writes fail with Closed.
    pub fn close(&self) {
        self.writer.close();
    }

    /// Whether a read transaction can run now.
    pub async fn is_healthy(&self) -> bool {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
            .is_ok()
    }
}

/// New record ids: lowercase UUID v4, as the original.
fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
