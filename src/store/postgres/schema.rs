//! The schema under version control (`migrations/`), applied at start.
//!
//! Two replicas may start at the same moment: each creates the one-row lock
//! table if missing (a concurrent CREATE that loses the race is retried),
//! then takes its row `FOR UPDATE` and applies, in that transaction, the
//! migrations newer than the version the row holds. The second replica waits
//! on the row and then finds nothing to do. A database whose version is newer
//! than this binary's is refused before anything is written.

use deadpool_postgres::Object;

use super::tx::{Failure, TxResult, into_store_error};
use crate::store::{StoreError, StoreResult};

/// The migrations, oldest first: version N is `MIGRATIONS[N - 1]`.
pub const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_explanations.sql"),
    include_str!("migrations/0003_diversity.sql"),
    include_str!("migrations/0004_retention.sql"),
    include_str!("migrations/0005_migration_progress.sql"),
];

/// The version whose migration creates the application buckets
/// (`diversity`): a step in Rust fills them from the applications already
/// there, reading their local time text as the service does.
const BUCKETS_VERSION: usize = 3;

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const CREATE_LOCK: &str = "CREATE TABLE IF NOT EXISTS ls_schema (id BIGINT PRIMARY KEY, \
                           version BIGINT NOT NULL)";
const SEED_LOCK: &str =
    "INSERT INTO ls_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING";
const TAKE_LOCK: &str = "SELECT version FROM ls_schema WHERE id = 1 FOR UPDATE";
const SET_VERSION: &str = "UPDATE ls_schema SET version = $1 WHERE id = 1";

/// Every statement of this file, for the portability check.
#[cfg(test)]
pub fn statements() -> Vec<&'static str> {
    let mut all = vec![CREATE_LOCK, SEED_LOCK, TAKE_LOCK, SET_VERSION];
    all.extend(MIGRATIONS);
    all
}

/// A concurrent CREATE TABLE IF NOT EXISTS can fail on PostgreSQL's catalog
/// (unique_violation on pg_type) instead of waiting: try again.
fn lost_create_race(failure: &Failure) -> bool {
    matches!(failure, Failure::Database(e)
        if e.code().is_some_and(|c| c.code() == "23505" || c.code() == "42P07"))
}

pub async fn ensure(client: &mut Object) -> StoreResult<()> {
    for attempt in 0.. {
        match apply(client).await {
            Err(failure) if attempt < 5 && lost_create_race(&failure) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => return other.map_err(into_store_error),
        }
    }
    Ok(())
}

async fn apply(client: &mut Object) -> TxResult<()> {
    client.batch_execute(CREATE_LOCK).await?;
    client.batch_execute(SEED_LOCK).await?;
    let transaction = client.transaction().await?;
    let found: i64 = transaction.query_one(TAKE_LOCK, &[]).await?.try_get(0)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::Refused(format!(
            "the database has schema version {found}, newer than the {SCHEMA_VERSION} this \
             service supports (left untouched)"
        ))
        .into());
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        transaction.batch_execute(migration).await?;
        if index + 1 == BUCKETS_VERSION {
            super::diversity::backfill(&transaction).await?;
        }
        tracing::info!(version = index + 1, "applied a PostgreSQL schema migration");
    }
    transaction
        .execute(SET_VERSION, &[&SCHEMA_VERSION.max(found)])
        .await?;
    transaction.commit().await?;
    Ok(())
}
