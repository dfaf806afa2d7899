//! The contract's one error type: kinds by meaning, never a backend's text.
//!
//! A client sees the kind and a sentence. Whatever a backend knows beyond that
//! (SQL error text, file paths) goes to the server log together with a short
//! reference, and the sentence carries the same reference, so an operator can
//! find the log line from a client's report.

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The request cannot be carried out as asked (the client's fault).
    #[error("{field}: {message}")]
    InvalidArgument {
        field: &'static str,
        message: String,
    },
    #[error("{what} {id:?} not found")]
    NotFound { what: &'static str, id: String },
    /// Another writer got there first and retrying did not help.
    #[error("{0}")]
    Conflict(String),
    /// The write queue is full: retry later.
    #[error("the write queue is full")]
    Overloaded,
    /// The store cannot serve now (shutting down, disk, file, database down).
    #[error("{reason}")]
    Unavailable { reason: String },
    /// A defect or an unexpected state; the detail is in the server log.
    #[error("internal error (reference {reference}); the server log has the details")]
    Internal { reference: String },
    /// The store refused to open (not a database, another schema version, ...).
    #[error("{0}")]
    Refused(String),
}

impl StoreError {
    pub fn request_id_reused() -> Self {
        Self::InvalidArgument {
            field: "request_id",
            message: "reused with a different request".into(),
        }
    }

    /// A trigger named a snapshot that is not recorded.
    pub fn unknown_snapshot(id: &str) -> Self {
        Self::InvalidArgument {
            field: "trigger.snapshot_id",
            message: format!("no recorded snapshot has the id {id:?}"),
        }
    }

    pub fn closed() -> Self {
        Self::Unavailable {
            reason: "the store is shutting down".into(),
        }
    }

    /// Logs `detail` with a new reference and returns the error naming it.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let reference = new_reference();
        tracing::error!(reference, %detail, "internal store error");
        Self::Internal { reference }
    }

    /// A client sentence (`reason`, no paths or backend text) for a cause that
    /// is logged with a new reference; the sentence carries the reference.
    pub fn unavailable(reason: &str, detail: impl std::fmt::Display) -> Self {
        let reference = new_reference();
        tracing::warn!(reference, %detail, reason, "store unavailable");
        Self::Unavailable {
            reason: format!("{reason} (reference {reference})"),
        }
    }
}

/// Eight hex digits: enough to find one log line among a day's.
fn new_reference() -> String {
    let bytes = uuid::Uuid::new_v4();
    bytes.simple().to_string()[..8].to_owned()
}

pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_carry_a_reference_and_not_the_detail() {
        let error = StoreError::internal("no such column: secret_path /var/lib/x.db");
        let text = error.to_string();
        assert!(
            !text.contains("secret_path") && !text.contains("/var/lib"),
            "{text}"
        );
        let StoreError::Internal { reference } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(reference.len(), 8);
        assert!(text.contains(reference.as_str()));
    }
}
