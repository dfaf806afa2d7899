//! The health probe: can the store read and write right now?
//!
//! Nothing is written: the write check runs a statement that changes no row
//! on the write connection, which still needs a writable database and a
//! working writer thread, and compares the database's page count with its
//! size limit. The free space of the file system is looked at directly,
//! because a write that is rolled back never reaches the disk.

use std::time::Duration;

use super::{Store, StoreError, fault::StoreFault};

/// Below this, writes are about to fail with "disk full": a group commit can
/// append hundreds of pages to the WAL.
pub const MIN_FREE_BYTES: u64 = 1024 * 1024;

impl Store {
    /// Checks, in order: the file is still the one opened, its file system
    /// has room, a read transaction works, and the write path answers within
    /// `write_timeout` with a writable database that has room to grow.
    pub async fn probe(&self, write_timeout: Duration) -> Result<(), StoreFault> {
        self.file.check()?;
        self.check_free_space()?;
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?))
            .await
            .map_err(|e| StoreFault::Read(explain(&e)))?;
        let write = self.writer.write(|c| {
            c.execute("UPDATE schema_version SET version = version WHERE 0", [])?;
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
            Ok(Err(e)) => Err(StoreFault::Write(explain(&e))),
        }
    }

    fn check_free_space(&self) -> Result<(), StoreFault> {
        let path = self.file.path();
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

    /// Runs `sql` on the write connection, inside the writer's transaction.
    /// For fault-injection tests (e.g. `PRAGMA max_page_count`), not for use.
    #[doc(hidden)]
    pub async fn execute_on_write_connection(&self, sql: &str) -> Result<(), StoreError> {
        let sql = sql.to_owned();
        self.writer.write(move |c| Ok(c.execute_batch(&sql)?)).await
    }
}

/// The operator's sentence for a store error.
fn explain(error: &StoreError) -> String {
    match error {
        StoreError::Sqlite(inner) => {
            super::fault::describe(inner).map_or_else(|| error.to_string(), str::to_owned)
        }
        other => other.to_string(),
    }
}
