//! Checks of the file before SQLite opens it: SQLite would fall back to
//! read-only without a word, and every write would fail later.

use std::path::Path;

use rusqlite::Connection;

use crate::store::{StoreError, StoreFault, StoreResult};

impl From<String> for StoreError {
    fn from(refusal: String) -> Self {
        StoreError::Refused(refusal)
    }
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
                .to_string()
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
        .to_string()
        .into());
    }
    Ok(())
}
