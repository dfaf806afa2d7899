//! The embedded default backend: one SQLite file, compatible with the
//! original learning store (see `schema`).
//!
//! Reads run on dedicated read threads (see `readers`), each on a pooled
//! connection and in one read transaction (a consistent WAL snapshot that
//! never waits for writers). Writes go through the single [`writer::Writer`]
//! thread: group commit, one savepoint per write. Atomicity of every
//! read-then-write rests on that thread holding SQLite's one write lock for
//! the whole transaction.

mod aggregate_triggers;
mod aggregates;
mod budget;
mod cells;
mod checkpoint;
mod contract;
mod diversity;
mod entropy_cache;
mod entropy_history;
mod error;
mod every;
mod explanations;
pub mod export;
mod file_checks;
mod file_watch;
mod history_versions;
mod idempotency;
pub mod maintenance;
mod ops;
mod page;
mod patterns;
mod poll;
mod population;
mod population_log;
mod probe;
mod readers;
mod responses;
mod retention;
pub mod schema;
mod streams;
mod writer;

use std::{path::Path, sync::Arc, time::Duration};

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, config::DbConfig};
use tokio::sync::watch;

use crate::store::{Checkpoints, Durability, StoreOptions, StoreResult, Wakeup};
// The original store's text formats, shared with the other backends.
use crate::store::{json, time};

/// The SQLite store. See the module documentation.
pub struct SqliteStore {
    readers: readers::Readers,
    entropy_cache: Arc<entropy_cache::EntropyCache>,
    writer: writer::Writer,
    checkpointer: std::sync::Mutex<Option<every::Every>>,
    poller: std::sync::Mutex<Option<every::Every>>,
    wakeups: watch::Receiver<Wakeup>,
    file: Arc<file_watch::FileWatch>,
    instance_id: String,
}

fn configure(connection: &Connection, durability: Durability) -> rusqlite::Result<()> {
    connection.busy_timeout(Duration::from_secs(30))?;
    // Plans that do not depend on bound values: without this, the bundled
    // SQLite (STAT4) marks a statement with `LIMIT ?` or `= ?` for re-preparing
    // on every new binding, and each cached statement was parsed again per call.
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    connection.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = {synchronous};"
    ))
}

/// Page cache of each read connection, in KiB: reads are index seeks over a
/// few pages, and the OS page cache holds the file anyway; SQLite's default
/// (2 MiB per connection) made the pool alone weigh 16 MiB on large files.
const READER_CACHE_KIB: i64 = 512;

/// Page cache of the write connection, in KiB. Small on purpose: a COMMIT
/// whose inserts split a page scans the whole cache's hash table (SQLite
/// renumbers pages through a page past the end of the file while it balances
/// the B-tree), so a large cache cost more per commit than it saved in reads
/// from the OS page cache. 2 MiB against 32 MiB, measured on 1k-row and
/// 1M-row files: 8 to 12 % less server CPU per write (BENCHMARKS.md).
const WRITER_CACHE_KIB: i64 = 2 * 1024;

/// The write path. With `--durability full` the writer's connection fsyncs
/// the WAL inside each COMMIT (`synchronous=FULL`, set by [`configure`]), so
/// a batch becomes visible to readers and streams only once it is durable,
/// and its callers are answered after that. (An fsync on a thread of its own,
/// beside the writer, ran no faster here and let readers see a batch before it
/// was durable.)
fn start_writer(
    connection: Connection,
    options: &StoreOptions,
    wakeups: Arc<watch::Sender<Wakeup>>,
    file: Arc<file_watch::FileWatch>,
) -> StoreResult<writer::Writer> {
    // With checkpoints off, another tool (Litestream) copies and checkpoints the WAL.
    let frames = match options.checkpoints {
        Checkpoints::Auto => checkpoint::WRITER_FRAMES,
        Checkpoints::Off => 0,
    };
    connection.execute_batch(&format!(
        "PRAGMA cache_size = -{WRITER_CACHE_KIB}; PRAGMA wal_autocheckpoint = {frames};"
    ))?;
    writer::Writer::start(connection, options.write_queue_capacity, wakeups, file)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file. Blocking.
    pub fn open(path: &Path, options: StoreOptions) -> StoreResult<Self> {
        file_checks::refuse_unwritable(path)?;
        schema::check_existing_file(path)?;
        let mut connection = Connection::open(path)?;
        file_checks::refuse_read_only(&connection, path)?;
        let file = file_watch::FileWatch::new(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        configure(&connection, options.durability)?;
        schema::ensure(&mut connection)?;
        // The transaction of `ensure` opened the write-ahead log.
        let file = Arc::new(file.with_wal());

        let durability = options.durability;
        let manager = SqliteConnectionManager::file(path)
            .with_flags(
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_URI
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .with_init(move |c| {
                configure(c, durability)?;
                c.execute_batch(&format!("PRAGMA cache_size = -{READER_CACHE_KIB};"))
            });
        let read_connections = options.read_connections.max(1);
        let reads = r2d2::Pool::builder()
            .max_size(read_connections)
            // A check per checkout costs a statement per read; a broken
            // connection fails its read instead.
            .test_on_check_out(false)
            .min_idle(Some(1))
            .build(manager)?;
        let readers = readers::Readers::start(reads, read_connections)?;
        let checkpointer = match options.checkpoints {
            Checkpoints::Auto => {
                let checkpoint_connection = Connection::open(path)?;
                configure(&checkpoint_connection, Durability::Normal)?;
                Some(checkpoint::start(checkpoint_connection)?)
            }
            Checkpoints::Off => None,
        };
        let (wakeup_sender, wakeups) = watch::channel(Wakeup::default());
        let wakeup_sender = Arc::new(wakeup_sender);
        let writer = start_writer(connection, &options, wakeup_sender.clone(), file.clone())?;
        let poller = poll::start(wakeup_sender)?;
        Ok(Self {
            readers,
            entropy_cache: Default::default(),
            writer,
            checkpointer: std::sync::Mutex::new(checkpointer),
            poller: std::sync::Mutex::new(Some(poller)),
            wakeups,
            file,
            instance_id: options.instance_id.clone(),
        })
    }

    /// Runs `operation` in one read transaction on a pooled connection, on a
    /// read thread (off the async workers).
    pub(crate) async fn read<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.readers
            .run(move |connection| in_read_transaction(connection, operation))
            .await
    }

    /// Runs `operation` atomically on the write path; returns once committed.
    pub(crate) async fn write_with<T, F>(&self, operation: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.file.refuse_writes()?;
        self.writer.write(operation).await
    }

    /// Runs `sql` on the write connection, inside the writer's transaction.
    /// For fault-injection tests (e.g. `PRAGMA max_page_count`), not for use.
    #[doc(hidden)]
    pub async fn execute_on_write_connection(&self, sql: &str) -> StoreResult<()> {
        let sql = sql.to_owned();
        self.writer.write(move |c| Ok(c.execute_batch(&sql)?)).await
    }

    /// Stops every thread of the store (see [`crate::store::Store::close`]).
    fn stop(&self, grace: Duration) {
        if let Ok(mut poller) = self.poller.lock() {
            poller.take();
        }
        self.writer.close(grace);
        self.readers.close();
        if let Ok(mut checkpointer) = self.checkpointer.lock() {
            checkpointer.take();
        }
    }
}

impl Drop for SqliteStore {
    /// A store dropped without `close` still commits what was queued.
    fn drop(&mut self) {
        self.stop(DROP_GRACE);
    }
}

/// How long a dropped store waits for its writer.
const DROP_GRACE: Duration = Duration::from_secs(10);

/// One read transaction: a consistent snapshot of the WAL. BEGIN and COMMIT
/// are cached statements: parsing them again costs as much as a point read.
fn in_read_transaction<T>(
    connection: &mut Connection,
    operation: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    connection.prepare_cached("BEGIN")?.execute([])?;
    let result = operation(connection);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = connection
        .prepare_cached(end)
        .and_then(|mut s| s.execute([]));
    let result = result?;
    ended?;
    Ok(result)
}

/// New record ids: lowercase UUID v4, as the original.
fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another program may hold the file's lock: every connection waits for
    /// it (30 s, as the original) rather than failing with SQLITE_BUSY.
    #[tokio::test]
    async fn read_and_write_connections_wait_for_locks() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(&dir.path().join("learning.db"), StoreOptions::default()).unwrap();
        let busy_timeout = |c: &Connection| -> StoreResult<i64> {
            Ok(c.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?)
        };
        assert_eq!(store.read(busy_timeout).await.unwrap(), 30_000);
        assert_eq!(store.write_with(busy_timeout).await.unwrap(), 30_000);
        store.stop(Duration::from_secs(5));
    }

    /// `--durability full` fsyncs inside every COMMIT (FULL = 2), so a batch
    /// is visible only once durable; `normal` does not (NORMAL = 1).
    #[tokio::test]
    async fn the_writer_commits_as_durably_as_asked() {
        let dir = tempfile::tempdir().unwrap();
        let synchronous = |c: &Connection| -> StoreResult<i64> {
            Ok(c.query_row("PRAGMA synchronous", [], |r| r.get(0))?)
        };
        for (durability, expected) in [(Durability::Full, 2), (Durability::Normal, 1)] {
            let options = StoreOptions {
                durability,
                ..StoreOptions::default()
            };
            let store =
                SqliteStore::open(&dir.path().join(format!("{expected}.db")), options).unwrap();
            assert_eq!(store.write_with(synchronous).await.unwrap(), expected);
            store.stop(Duration::from_secs(5));
        }
    }

    /// With `--checkpoint off` the service never checkpoints the WAL (for Litestream).
    #[tokio::test]
    async fn checkpoints_can_be_left_to_another_tool() {
        let dir = tempfile::tempdir().unwrap();
        let frames = |c: &Connection| -> StoreResult<i64> {
            Ok(c.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?)
        };
        for (checkpoints, expected) in [(Checkpoints::Auto, 10_000), (Checkpoints::Off, 0)] {
            let options = StoreOptions {
                checkpoints,
                ..StoreOptions::default()
            };
            let store =
                SqliteStore::open(&dir.path().join(format!("{expected}.db")), options).unwrap();
            assert_eq!(store.write_with(frames).await.unwrap(), expected);
            assert_eq!(store.checkpointer.lock().unwrap().is_some(), expected > 0);
            store.stop(Duration::from_secs(5));
        }
    }

    /// The bundled SQLite is built by `.cargo/config.toml` without the shared
    /// page cache (one mutex for every connection's page lookups) and without
    /// memory statistics (one mutex for every allocation).
    #[test]
    fn sqlite_is_built_without_process_wide_mutexes() {
        let connection = Connection::open_in_memory().unwrap();
        let mut statement = connection.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = statement
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
    }

    /// A cached statement runs again with new bindings without being parsed
    /// again: the pagination queries bind `LIMIT ?` and `job_hash = ?`.
    #[tokio::test]
    async fn cached_statements_are_not_prepared_again_per_binding() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(&dir.path().join("learning.db"), StoreOptions::default()).unwrap();
        let reprepares = |c: &Connection| -> StoreResult<i32> {
            let sql = "SELECT rowid FROM exploration_budget \
                       WHERE job_hash = ?1 AND rowid < ?2 ORDER BY rowid DESC LIMIT ?3";
            for (job, limit) in [("a", 1), ("b", 2), ("c", 3)] {
                let mut statement = c.prepare_cached(sql)?;
                let rows =
                    statement.query_map(rusqlite::params![job, i64::MAX, limit], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<Vec<i64>>>()?;
            }
            let statement = c.prepare_cached(sql)?;
            Ok(statement.get_status(rusqlite::StatementStatus::RePrepare))
        };
        assert_eq!(store.read(reprepares).await.unwrap(), 0);
        assert_eq!(store.write_with(reprepares).await.unwrap(), 0);
        store.stop(Duration::from_secs(5));
    }
}
