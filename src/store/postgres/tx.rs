//! Transactions and their failures: the one place where a serialization
//! failure (40001) or a deadlock (40P01) is retried, with backoff, so no
//! client ever sees one; and where PostgreSQL's errors become the contract's
//! kinds (its text goes to the log only, with a reference).

use std::{collections::HashMap, future::Future, pin::Pin, task::Poll, time::Duration};

use deadpool_postgres::{Object, PoolError};
use tokio_postgres::{error::SqlState, types::ToSql};

use crate::domain::explanation::PreviousBudget;
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

/// A statement to run with the COMMIT, with its parameters.
type Deferred = (&'static str, Vec<Box<dyn ToSql + Sync + Send>>);

/// The statements of a write that go in the round trip of its COMMIT: the
/// writes to rows that every writer shares (the stream counter, the all-jobs
/// statistics), which are locked until COMMIT. Sent with the COMMIT, their
/// locks are held for PostgreSQL's own work only, without waiting for this
/// process between two round trips. The statements on rows of one writer
/// ([`Tail::push`]) run first, then those on rows every writer shares
/// ([`Tail::push_shared`]), each kind in the order added: in a group of many
/// writes, the shared rows are then held for the shared statements and the
/// COMMIT only, not for every write's other statements as well.
///
/// A later statement of the same transaction does not see what the tail
/// will insert, so the tail also answers for it: the budget record it will
/// insert last for each job ([`Tail::budget_written`]), which the next write
/// of that job in the transaction (a group commit's) reads as its previous.
#[derive(Default)]
pub struct Tail {
    statements: std::sync::Mutex<Vec<Deferred>>,
    shared: std::sync::Mutex<Vec<Deferred>>,
    budgets: std::sync::Mutex<HashMap<String, PreviousBudget>>,
}

impl Tail {
    /// A statement on rows that only this write takes (its job's, its own).
    pub fn push(&self, sql: &'static str, params: Vec<Box<dyn ToSql + Sync + Send>>) {
        if let Ok(mut statements) = self.statements.lock() {
            statements.push((sql, params));
        }
    }

    /// A statement on rows that every writer takes (a stream counter, the
    /// all-jobs statistics).
    pub fn push_shared(&self, sql: &'static str, params: Vec<Box<dyn ToSql + Sync + Send>>) {
        if let Ok(mut shared) = self.shared.lock() {
            shared.push((sql, params));
        }
    }

    /// Notes that the tail will insert `record` as `job`'s latest budget.
    pub fn note_budget(&self, job: &str, record: PreviousBudget) {
        if let Ok(mut budgets) = self.budgets.lock() {
            budgets.insert(job.to_owned(), record);
        }
    }

    /// The latest budget of `job` that this transaction wrote, if any.
    pub fn budget_written(&self, job: &str) -> Option<PreviousBudget> {
        self.budgets.lock().ok()?.get(job).cloned()
    }

    fn take(&self) -> Vec<Deferred> {
        let take = |list: &std::sync::Mutex<Vec<Deferred>>| {
            list.lock()
                .map(|mut statements| std::mem::take(&mut *statements))
                .unwrap_or_default()
        };
        let mut statements = take(&self.statements);
        statements.extend(take(&self.shared));
        statements
    }
}

/// A write transaction, begun and committed by hand so that its COMMIT can
/// go with its [`Tail`] (tokio-postgres' `Transaction` commits in a round
/// trip of its own). It ends by [`commit`](Self::commit) or
/// [`rollback`](Self::rollback), both awaited to the reply, so the caller
/// may then `Conn::finish()` its connection. Dropped before either (the
/// call's future dropped mid-statement), the unfinished `Conn` closes the
/// connection, and PostgreSQL rolls the transaction back.
#[must_use = "a write transaction ends by commit or rollback"]
pub struct WriteTransaction<'a> {
    client: &'a Object,
}

impl<'a> WriteTransaction<'a> {
    pub async fn begin(client: &'a Object) -> TxResult<Self> {
        client.batch_execute("BEGIN").await?;
        Ok(Self { client })
    }

    pub fn client(&self) -> &'a Object {
        self.client
    }

    /// Rolls back after `failure` (its body failed) and returns it.
    pub async fn rollback<T>(self, failure: Failure) -> TxResult<T> {
        if let Err(error) = self.client.batch_execute("ROLLBACK").await {
            tracing::debug!(%error, "a failed write transaction could not be rolled back");
        }
        Err(failure)
    }

    /// Sends the tail's statements and the COMMIT in one round trip. Every
    /// reply is awaited, so the transaction has ended either way: committed,
    /// or rolled back by PostgreSQL after the first error (returned).
    pub async fn commit(self, tail: &Tail) -> TxResult<()> {
        let statements = tail.take();
        let client = self.client;
        // Prepared first: a statement that still had to be parsed would send
        // its execution only after a round trip, behind the COMMIT.
        let mut prepared = Vec::with_capacity(statements.len());
        for (sql, _) in &statements {
            match client.prepare_cached(sql).await {
                Ok(statement) => prepared.push(statement),
                Err(error) => return self.rollback(error.into()).await,
            }
        }
        // From here, the first poll of each future sends its request.
        let mut flight: Vec<Pin<Box<dyn Future<Output = TxResult<()>> + Send + '_>>> = statements
            .iter()
            .zip(&prepared)
            .map(|((_, params), statement)| {
                Box::pin(async move {
                    let params: Vec<&(dyn ToSql + Sync)> = params
                        .iter()
                        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                        .collect();
                    client.execute(statement, &params).await?;
                    Ok(())
                }) as Pin<Box<dyn Future<Output = TxResult<()>> + Send + '_>>
            })
            .collect();
        flight.push(Box::pin(async move {
            client.batch_execute("COMMIT").await?;
            Ok(())
        }));
        in_order(flight).await
    }
}

/// Polls `futures` in order until every one has finished (so each request
/// is sent in order, and each reply read); the first error, if any.
async fn in_order<'a>(
    mut futures: Vec<Pin<Box<dyn Future<Output = TxResult<()>> + Send + 'a>>>,
) -> TxResult<()> {
    let mut results: Vec<Option<TxResult<()>>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, result) in futures.iter_mut().zip(results.iter_mut()) {
            if result.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(done) => *result = Some(done),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    results
        .into_iter()
        .flatten()
        .find(Result::is_err)
        .unwrap_or(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_sends_each_writes_own_rows_before_the_shared_ones() {
        let tail = Tail::default();
        tail.push("own 1", Vec::new());
        tail.push_shared("shared 1", Vec::new());
        tail.push("own 2", Vec::new());
        tail.push_shared("shared 2", Vec::new());
        let order: Vec<&str> = tail.take().into_iter().map(|(sql, _)| sql).collect();
        assert_eq!(order, ["own 1", "own 2", "shared 1", "shared 2"]);
        assert!(tail.take().is_empty(), "taken once");
    }
}
