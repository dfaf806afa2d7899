//! Store errors as gRPC statuses: the one mapping.

use tonic::Status;

use crate::store::{StoreError, fault};

impl From<StoreError> for Status {
    fn from(error: StoreError) -> Self {
        let message = error.to_string();
        match &error {
            StoreError::NotFound { .. } => Status::not_found(message),
            StoreError::RequestIdReused => {
                super::validate::invalid("request_id", "reused with a different request")
            }
            StoreError::Overloaded => Status::resource_exhausted(message),
            StoreError::Closed | StoreError::Pool(_) | StoreError::Fault(_) => {
                Status::unavailable(message)
            }
            StoreError::NotSqlite { .. }
            | StoreError::NewerSchema { .. }
            | StoreError::OlderSchema { .. } => Status::failed_precondition(message),
            StoreError::Sqlite(inner) => match fault::describe(inner) {
                // The client gets the sentence; the log keeps SQLite's own words.
                Some(sentence) => {
                    tracing::warn!(%error, "database unavailable");
                    Status::unavailable(sentence)
                }
                None => {
                    tracing::error!(%error, "database error");
                    Status::internal(message)
                }
            },
            StoreError::Internal(_) => {
                tracing::error!(%error, "internal error");
                Status::internal(message)
            }
        }
    }
}
