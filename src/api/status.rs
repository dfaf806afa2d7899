//! Store errors as gRPC statuses: the one mapping.

use rusqlite::ErrorCode;
use tonic::Status;

use crate::store::StoreError;

impl From<StoreError> for Status {
    fn from(error: StoreError) -> Self {
        let message = error.to_string();
        match &error {
            StoreError::NotFound { .. } => Status::not_found(message),
            StoreError::RequestIdReused => {
                super::validate::invalid("request_id", "reused with a different request")
            }
            StoreError::Overloaded => Status::resource_exhausted(message),
            StoreError::Closed | StoreError::Pool(_) => Status::unavailable(message),
            StoreError::NotSqlite { .. }
            | StoreError::NewerSchema { .. }
            | StoreError::OlderSchema { .. } => Status::failed_precondition(message),
            StoreError::Sqlite(inner) => match inner.sqlite_error_code() {
                Some(
                    ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::DiskFull
                    | ErrorCode::ReadOnly
                    | ErrorCode::CannotOpen
                    | ErrorCode::SystemIoFailure,
                ) => Status::unavailable(message),
                _ => {
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
