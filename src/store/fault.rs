//! What is wrong with the database, in words an operator can act on: for
//! gRPC statuses (UNAVAILABLE, never a raw SQLite message as INTERNAL), for
//! the health monitor's log lines, and for refused writes.

use std::{path::Path, time::Duration};

use rusqlite::{Connection, ErrorCode};

use super::error::StoreResult;

/// A condition that makes the store unusable until it is fixed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreFault {
    #[error(
        "{path} is not writable ({reason}); the service writes to the database and creates \
         its -wal and -shm files beside it"
    )]
    NotWritable { path: String, reason: String },
    #[error(
        "the database file {path} was removed or renamed while the service was running; \
         writes are refused because they would be lost when the service stops \
         (put the file back, or restart the service)"
    )]
    FileMissing { path: String },
    #[error(
        "the database file {path} was replaced by another file while the service was running; \
         writes are refused because they would go to the old file (restart the service to use the new one)"
    )]
    FileReplaced { path: String },
    #[error(
        "the file system of {path} has only {available} bytes free; writes fail when it is full"
    )]
    LowDiskSpace { path: String, available: u64 },
    #[error("reads fail: {0}")]
    Read(String),
    #[error("writes fail: {0}")]
    Write(String),
    #[error(
        "a test write did not finish within {}; the database may be locked by another program",
        humantime::format_duration(*.0)
    )]
    WriteStalled(Duration),
}

/// Refuses, before SQLite sees it, a database the service could not write:
/// SQLite would fall back to read-only without a word, or fail with "unable
/// to open database file", and every write would fail later.
pub fn refuse_unwritable(path: &Path) -> StoreResult<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    for target in [path, directory] {
        let access = rustix::fs::accessat(
            rustix::fs::CWD,
            target,
            rustix::fs::Access::WRITE_OK,
            rustix::fs::AtFlags::EACCESS,
        );
        match access {
            Ok(()) => {}
            // A new file is created in the directory, checked next.
            Err(rustix::io::Errno::NOENT) if target == path => {}
            Err(errno) => {
                return Err(StoreFault::NotWritable {
                    path: target.display().to_string(),
                    reason: std::io::Error::from(errno).to_string(),
                }
                .into());
            }
        }
    }
    Ok(())
}

/// The backstop for [`refuse_unwritable`]: SQLite opened the file read-only.
pub fn refuse_read_only(connection: &Connection, path: &Path) -> StoreResult<()> {
    if connection.is_readonly(rusqlite::MAIN_DB)? {
        return Err(StoreFault::NotWritable {
            path: path.display().to_string(),
            reason: "SQLite could open it for reading only".into(),
        }
        .into());
    }
    Ok(())
}

/// A sentence for SQLite errors that come from the file or the disk rather
/// than from a bug; `None` for the others.
pub fn describe(error: &rusqlite::Error) -> Option<&'static str> {
    let text = match error.sqlite_error_code()? {
        ErrorCode::DiskFull => {
            "the disk of the database is full (or the database reached its size limit); nothing was saved"
        }
        ErrorCode::ReadOnly => {
            "the database is read-only (file permissions or a read-only file system); nothing was saved"
        }
        ErrorCode::CannotOpen => {
            "the database file cannot be opened; it may have been removed or made inaccessible"
        }
        ErrorCode::SystemIoFailure => "an I/O error occurred on the database file",
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            "the database is locked by another program; try again"
        }
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
            "the database file is damaged or is no longer a SQLite database"
        }
        ErrorCode::PermissionDenied => "the database file cannot be accessed: permission denied",
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_disk_full_and_read_only() {
        let connection = rusqlite::Connection::open_in_memory().unwrap();
        connection.execute_batch("CREATE TABLE t (x)").unwrap();
        connection.pragma_update(None, "query_only", true).unwrap();
        let read_only = connection
            .execute("INSERT INTO t VALUES (1)", [])
            .unwrap_err();
        assert!(describe(&read_only).unwrap().contains("read-only"));
        let syntax = connection.execute("INSERT INTO", []).unwrap_err();
        assert_eq!(describe(&syntax), None);
    }
}
