//! SQLite's errors as the contract's kinds. Errors that come from the file
//! or the disk become UNAVAILABLE with a sentence; the others are internal.
//! Either way SQLite's own text goes to the log only, with a reference.

use rusqlite::ErrorCode;

use crate::store::StoreError;

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        match describe(&error) {
            Some(sentence) => StoreError::unavailable(sentence, &error),
            None => StoreError::internal(format!("database error: {error}")),
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(error: r2d2::Error) -> Self {
        StoreError::unavailable("no database connection is available", &error)
    }
}

/// A sentence for SQLite errors that come from the file or the disk rather
/// than from a bug; `None` for the others.
pub(super) fn describe(error: &rusqlite::Error) -> Option<&'static str> {
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
