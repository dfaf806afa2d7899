//! The one error type of the store.

use std::sync::Arc;

#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {id:?} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{path} is not a SQLite database (left untouched)")]
    NotSqlite { path: String },
    #[error(
        "{path} has schema version {found}, newer than the {supported} this service supports (left untouched)"
    )]
    NewerSchema {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error(
        "{path} has schema version {found}, older than {supported}; open it once with the original learning store to migrate it (left untouched)"
    )]
    OlderSchema {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("database error: {0}")]
    Sqlite(Arc<rusqlite::Error>),
    #[error("database connection unavailable: {0}")]
    Pool(String),
    #[error("request_id: reused with a different request")]
    RequestIdReused,
    #[error("the write queue is full")]
    Overloaded,
    #[error("the store is shutting down")]
    Closed,
    #[error(transparent)]
    Fault(#[from] super::fault::StoreFault),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Sqlite(Arc::new(error))
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(error: r2d2::Error) -> Self {
        Self::Pool(error.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
