//! What is wrong with the store, in words an operator can act on: for the
//! health monitor's log lines (which may name paths) and, through
//! [`StoreFault::client_reason`], for refused calls (which never do).

use std::time::Duration;

use super::error::StoreError;

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
        "the write-ahead log {path} of the database was removed or renamed while the service \
         was running; writes are refused because every commit goes to it first and would be \
         lost (put the file back, or restart the service)"
    )]
    WalMissing { path: String },
    #[error(
        "the write-ahead log {path} of the database was replaced by another file while the \
         service was running; writes are refused because they would be lost (restart the service)"
    )]
    WalReplaced { path: String },
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

impl StoreFault {
    /// The same fault for a client: no path, no backend text.
    pub fn client_reason(&self) -> String {
        match self {
            Self::NotWritable { .. } => "the database is not writable".into(),
            Self::FileMissing { .. } => {
                "the database file was removed or renamed while the service was running; \
                 writes are refused"
                    .into()
            }
            Self::FileReplaced { .. } => {
                "the database file was replaced by another file while the service was running; \
                 writes are refused"
                    .into()
            }
            Self::WalMissing { .. } | Self::WalReplaced { .. } => {
                "the write-ahead log of the database was removed or replaced while the service \
                 was running; writes are refused"
                    .into()
            }
            Self::LowDiskSpace { .. } => "the disk of the database is almost full".into(),
            Self::Read(_) => "reads of the database fail".into(),
            Self::Write(_) => "writes to the database fail".into(),
            Self::WriteStalled(_) => "the database is locked by another program; try again".into(),
        }
    }
}

impl From<StoreFault> for StoreError {
    fn from(fault: StoreFault) -> Self {
        Self::Unavailable {
            reason: fault.client_reason(),
        }
    }
}
