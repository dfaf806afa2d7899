//! Statements run as cached prepared statements (one parse per connection),
//! and the position counters that order the streamed tables.

use deadpool_postgres::GenericClient;
use tokio_postgres::{Row, types::ToSql};

use super::tx::TxResult;

pub type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub async fn query(c: &impl GenericClient, sql: &str, params: Params<'_>) -> TxResult<Vec<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query(&statement, params).await?)
}

pub async fn query_opt(
    c: &impl GenericClient,
    sql: &str,
    params: Params<'_>,
) -> TxResult<Option<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&statement, params).await?)
}

pub async fn query_one(c: &impl GenericClient, sql: &str, params: Params<'_>) -> TxResult<Row> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_one(&statement, params).await?)
}

pub async fn execute(c: &impl GenericClient, sql: &str, params: Params<'_>) -> TxResult<u64> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.execute(&statement, params).await?)
}

/// Locks `table`'s counter row until the transaction ends, without taking a
/// position: the read-then-write operations take it before they read.
pub async fn lock(c: &impl GenericClient, table: &str) -> TxResult<()> {
    query_one(
        c,
        "SELECT value FROM ls_counters WHERE name = $1 FOR UPDATE",
        &[&table],
    )
    .await?;
    Ok(())
}

/// The next stream position of `table` (see the module documentation for
/// why this follows commit order). Locks the counter row until commit.
pub async fn next_position(c: &impl GenericClient, table: &str) -> TxResult<i64> {
    let row = query_one(
        c,
        "UPDATE ls_counters SET value = value + 1 WHERE name = $1 RETURNING value",
        &[&table],
    )
    .await?;
    Ok(row.try_get(0)?)
}

/// New record ids: lowercase UUID v4, as the original.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The stored timestamp text (the original's naive local form), read leniently.
pub fn time_of(text: Option<String>) -> Option<chrono::DateTime<chrono::Utc>> {
    text.as_deref().and_then(crate::store::time::parse)
}

pub const BUDGET: &str = "exploration_budget";
pub const RESPONSES: &str = "entropy_responses";
pub const SNAPSHOTS: &str = "pattern_entropy_history";
pub const PATTERNS: &str = "patterns";
