//! Transactions and their failures: the one place where a serialization
//! failure (40001) or a deadlock (40P01) is retried, with backoff, so no
//! client ever sees one; and where PostgreSQL's errors become the contract's
//! kinds (its text goes to the log only, with a reference).

use std::{future::Future, time::Duration};

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use crate::store::{StoreError, StoreResult};

/// Why a transaction body failed: the database said no, or the store did.
#[derive(Debug)]
pub enum Failure {
    Database(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Database(error)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<PoolError> for Failure {
    fn from(error: PoolError) -> Self {
        match error {
            PoolError::Backend(error) => Self::Database(error),
            PoolError::Closed => Self::Store(StoreError::closed()),
            other => Self::Store(StoreError::unavailable(
                "no database connection is available; try again",
                other,
            )),
        }
    }
}

pub type TxResult<T> = Result<T, Failure>;

/// Attempts of one transaction before its caller gets CONFLICT (ABORTED).
const ATTEMPTS: u32 = 12;
/// First wait before a retry; doubled per attempt, capped at [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(2);
const MAX_BACKOFF: Duration = Duration::from_millis(200);

fn retryable(failure: &Failure) -> bool {
    matches!(failure, Failure::Database(error)
        if matches!(error.code(), Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED))
}

/// Runs `attempt` (one whole transaction, BEGIN to COMMIT) until it commits,
/// fails for good, or has been retried [`ATTEMPTS`] times.
pub async fn with_retry<T, F, Fut>(mut attempt: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = TxResult<T>>,
{
    let mut backoff = FIRST_BACKOFF;
    for _ in 1..ATTEMPTS {
        match attempt().await {
            Err(failure) if retryable(&failure) => {
                tracing::debug!(?failure, "transaction retried");
                // Jitter, so that two replicas that collided do not collide again.
                let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 4 + 1;
                tokio::time::sleep(backoff.mul_f64(jitter as f64 / 2.0)).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            other => return other.map_err(into_store_error),
        }
    }
    attempt().await.map_err(|failure| {
        if retryable(&failure) {
            StoreError::Conflict("the database kept refusing the transaction; try again".into())
        } else {
            into_store_error(failure)
        }
    })
}

pub fn into_store_error(failure: Failure) -> StoreError {
    match failure {
        Failure::Store(error) => error,
        Failure::Database(error) => database_error(error),
    }
}

/// Unreachable or restarting databases are UNAVAILABLE; anything else is a
/// defect or an unexpected state (INTERNAL).
pub fn database_error(error: tokio_postgres::Error) -> StoreError {
    let Some(code) = error.code() else {
        return StoreError::unavailable("the database cannot be reached; try again", &error);
    };
    let class = &code.code()[..2];
    match class {
        // Connection exceptions, insufficient resources, operator intervention.
        "08" | "53" | "57" => {
            StoreError::unavailable("the database is not available; try again", &error)
        }
        _ => StoreError::internal(format!("database error: {error}")),
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        database_error(error)
    }
}
