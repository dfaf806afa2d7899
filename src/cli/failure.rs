//! Why a client command failed, worded for the person who ran it.

use std::{error::Error, fmt};

use tonic::{Code, Status};
use tonic_types::StatusExt;

#[derive(Debug)]
pub enum Failure {
    /// The server answered with an error status.
    Status(Status),
    /// The server could not be reached (or the TLS handshake failed).
    Connect {
        server: String,
        error: tonic::transport::Error,
    },
    /// A local problem: a file that cannot be read, contradictory options.
    Message(String),
    /// Standard output was closed (e.g. piped into `head`): stop quietly.
    OutputClosed,
}

impl From<Status> for Failure {
    fn from(status: Status) -> Self {
        Self::Status(status)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(status) => write_status(f, status),
            Self::Connect { server, error } => {
                write!(f, "error: cannot connect to {server}: {}", chain(error))
            }
            Self::Message(message) => write!(f, "error: {message}"),
            Self::OutputClosed => Ok(()),
        }
    }
}

/// `error: CODE: message`, then each field violation the message does not
/// already spell out, then a hint for the codes an operator can act on.
fn write_status(f: &mut fmt::Formatter<'_>, status: &Status) -> fmt::Result {
    write!(
        f,
        "error: {}: {}",
        code_name(status.code()),
        status.message()
    )?;
    if let Some(bad_request) = status.get_details_bad_request() {
        for violation in &bad_request.field_violations {
            let line = format!("{}: {}", violation.field, violation.description);
            if !status.message().contains(&line) {
                write!(f, "\n  {line}")?;
            }
        }
    }
    match status.code() {
        Code::Unauthenticated => write!(
            f,
            "\n  the server wants a bearer token: --token-file <PATH> or LEARNING_TOKEN"
        ),
        Code::PermissionDenied => write!(f, "\n  the token is not allowed to do this"),
        // The CLI sends a cursor only when it resumes a watch.
        Code::OutOfRange => write!(
            f,
            "\n  the records after the last one shown are gone from the server \
             (pruned, or a new database); run the command again to follow from now"
        ),
        _ => Ok(()),
    }
}

/// A transport error and its causes ("tcp connect error: Connection
/// refused"): tonic's own text is only "transport error".
fn chain(error: &dyn Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&dyn Error> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        // Causes often repeat their source's text; keep each once.
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

/// The code as the gRPC specification and grpcurl spell it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    #[test]
    fn statuses_name_the_code_and_new_violations() {
        let status = Status::with_error_details(
            Code::InvalidArgument,
            "limit: must be at most 1000",
            ErrorDetails::with_bad_request(vec![
                tonic_types::FieldViolation::new("limit", "must be at most 1000"),
                tonic_types::FieldViolation::new("job_hash", "is required"),
            ]),
        );
        assert_eq!(
            Failure::from(status).to_string(),
            "error: INVALID_ARGUMENT: limit: must be at most 1000\n  job_hash: is required"
        );
    }

    #[test]
    fn unauthenticated_gets_a_hint() {
        let text = Failure::from(Status::unauthenticated("missing token")).to_string();
        assert!(text.starts_with("error: UNAUTHENTICATED: missing token\n"));
        assert!(text.contains("--token-file"));
    }
}
