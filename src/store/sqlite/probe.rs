//! The health probe: can the store read and write right now?
//!
//! The write check commits a real write through the writer, as every write
//! does: it bumps a counter in a row of the service's own `ls_meta` (created
//! with the schema, so no table of the original and no row count changes,
//! and no trigger, population version or stream position moves). A log file
//! that cannot be written, an I/O error or a stuck writer thus shows in
//! health, not only in the calls that fail. It also compares the database's
//! page count with its size limit, and the free space of the file system is
//! looked at directly: a small write still fits where a large one fails.

use std::time::Duration;

use rusqlite::Connection;

use super::SqliteStore;
use crate::store::{StoreError, StoreFault, StoreResult};

/// The row of `ls_meta` the probe writes.
const PROBE_KEY: &str = "health_probe";

/// Creates the probe's row (with the schema, in its transaction).
pub(super) fn ensure_row(connection: &Connection) -> StoreResult<()> {
    connection.execute(
        "INSERT INTO ls_meta (key, value) VALUES (?1, 0) ON CONFLICT (key) DO NOTHING",
        [PROBE_KEY],
    )?;
    Ok(())
}

/// The probe's write: a changed value, so that SQLite has a page to commit.
fn probe_write(connection: &Connection) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO ls_meta (key, value) VALUES (?1, 1) \
             ON CONFLICT (key) DO UPDATE SET value = coalesce(value + 1, 1)",
        )?
        .execute([PROBE_KEY])
        .map(|_| ())
}

/// Below this, writes are about to fail with "disk full": a group commit can
/// append hundreds of pages to the WAL.
pub const MIN_FREE_BYTES: u64 = 1024 * 1024;

impl SqliteStore {
    /// Checks, in order: the file and its log are still the ones opened, the
    /// file system has room, a read transaction works, and a write commits
    /// within `write_timeout` on a database that has room to grow.
    pub(super) async fn probe_now(&self, write_timeout: Duration) -> Result<(), StoreFault> {
        // stat and statvfs may block on a failing disk: not on an async worker.
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || {
            file.check()?;
            check_free_space(file.path())
        })
        .await
        .map_err(|e| StoreFault::Read(format!("the file check did not finish: {e}")))??;
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?))
            .await
            .map_err(|e| StoreFault::Read(e.to_string()))?;
        let write = self.writer.write(|c| {
            probe_write(c)?;
            let pragma =
                |name: &str| c.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0));
            let at_limit = pragma("freelist_count")? == 0
                && pragma("page_count")? >= pragma("max_page_count")?;
            Ok(at_limit)
        });
        match tokio::time::timeout(write_timeout, write).await {
            Err(_) => Err(StoreFault::WriteStalled(write_timeout)),
            Ok(Ok(false)) => Ok(()),
            Ok(Ok(true)) => Err(StoreFault::Write(
                "the database reached its maximum size (max_page_count)".into(),
            )),
            // A full queue means the writer is busy, not broken.
            Ok(Err(StoreError::Overloaded)) => Ok(()),
            Ok(Err(e)) => Err(StoreFault::Write(e.to_string())),
        }
    }
}

fn check_free_space(path: &std::path::Path) -> Result<(), StoreFault> {
    let stats = rustix::fs::statvfs(path).map_err(|e| {
        StoreFault::Read(format!(
            "cannot inspect the file system of {}: {e}",
            path.display()
        ))
    })?;
    let available = stats.f_bavail.saturating_mul(stats.f_frsize);
    if available < MIN_FREE_BYTES {
        return Err(StoreFault::LowDiskSpace {
            path: path.display().to_string(),
            available,
        });
    }
    Ok(())
}
