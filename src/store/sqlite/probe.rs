//! The health probe: can the store read and write right now?
//!
//! Nothing is written: the write check runs a statement that changes no row
//! on the write connection, which still needs a writable database and a
//! working writer thread, and compares the database's page count with its
//! size limit. The free space of the file system is looked at directly,
//! because a write that is rolled back never reaches the disk.

use std::time::Duration;

use super::SqliteStore;
use crate::store::{StoreError, StoreFault};

/// Below this, writes are about to fail with "disk full": a group commit can
/// append hundreds of pages to the WAL.
pub const MIN_FREE_BYTES: u64 = 1024 * 1024;

impl SqliteStore {
    /// Checks, in order: the file is still the one opened, its file system
    /// has room, a read transaction works, and the write path answers within
    /// `write_timeout` with a writable database that has room to grow.
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
