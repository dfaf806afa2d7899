//! The story's verdicts: a check that fails stops the story with a message naming the field,
//! the answer and the expected value.

use std::fmt::Debug;

/// Why the story stopped.
#[derive(Debug)]
pub enum Failure {
    /// An answer differs from the contract.
    Check(String),
    /// A call failed that should have succeeded.
    Rpc(tonic::Status),
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        Failure::Rpc(status)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Check(message) => f.write_str(message),
            Failure::Rpc(status) => write!(
                f,
                "unexpected RPC error {:?}: {}",
                status.code(),
                status.message()
            ),
        }
    }
}

pub type Outcome<T = ()> = Result<T, Failure>;

pub fn check(ok: bool, message: impl Into<String>) -> Outcome {
    if ok {
        Ok(())
    } else {
        Err(Failure::Check(message.into()))
    }
}

pub fn check_eq<T: PartialEq + Debug>(got: T, want: T, what: &str) -> Outcome {
    check(got == want, format!("{what}: got {got:?}, want {want:?}"))
}

pub fn check_close(got: f64, want: f64, what: &str) -> Outcome {
    check(
        (got - want).abs() <= 1e-6,
        format!("{what}: got {got}, want {want} (±1e-6)"),
    )
}

/// The value of an optional field that the contract says is set.
pub fn present<T>(value: Option<T>, what: &str) -> Outcome<T> {
    value.ok_or_else(|| Failure::Check(format!("{what}: unset")))
}
