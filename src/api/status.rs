//! Store errors as gRPC statuses: the one mapping. The store's messages
//! never carry paths or backend text (see `store::StoreError`).

use tonic::Status;

use crate::store::StoreError;

impl From<StoreError> for Status {
    fn from(error: StoreError) -> Self {
        let message = error.to_string();
        match error {
            StoreError::InvalidArgument { field, message } => {
                super::validate::invalid(field, message)
            }
            StoreError::NotFound { .. } => Status::not_found(message),
            StoreError::Conflict(_) => Status::aborted(message),
            StoreError::Overloaded => Status::resource_exhausted(message),
            StoreError::Unavailable { .. } => Status::unavailable(message),
            StoreError::Internal { .. } => Status::internal(message),
            StoreError::Refused(_) => Status::failed_precondition(message),
        }
    }
}
