//! `ls_budget_explanation` and `ls_response_explanation` (migration 2): the
//! same JSON text as on SQLite, written in the record's transaction and read
//! by a LEFT JOIN on the record id.

use deadpool_postgres::GenericClient;
use serde::Serialize;

use super::{
    sql,
    tx::{Tail, TxResult},
};
use crate::store::explanation_json::encode;

pub const BUDGET: &str = "ls_budget_explanation";
pub const RESPONSES: &str = "ls_response_explanation";

/// Stores the explanation of record `record_id` in `table` ([`BUDGET`] or [`RESPONSES`]).
pub async fn insert(
    c: &impl GenericClient,
    table: &str,
    record_id: &str,
    explanation: &impl Serialize,
) -> TxResult<()> {
    let text = encode(explanation)?;
    let statement = format!("INSERT INTO {table} (record_id, explanation) VALUES ($1, $2)");
    sql::execute(c, &statement, &[&record_id, &text]).await?;
    Ok(())
}

/// Deletes the explanations of records retention deleted, in its
/// transaction (no foreign key: the records' tables are the original's).
pub async fn forget(c: &impl GenericClient, table: &str, record_ids: &[String]) -> TxResult<()> {
    if record_ids.is_empty() {
        return Ok(());
    }
    let statement = format!("DELETE FROM {table} WHERE record_id = ANY($1)");
    sql::execute(c, &statement, &[&record_ids]).await?;
    Ok(())
}

/// [`insert`] into `ls_budget_explanation`, as a [`Tail`] statement.
pub const INSERT_BUDGET: &str =
    "INSERT INTO ls_budget_explanation (record_id, explanation) VALUES ($1, $2)";

/// Stores the explanation of record `record_id` with the COMMIT (`tail`),
/// by `statement` (such as [`INSERT_BUDGET`]).
pub fn push(
    tail: &Tail,
    statement: &'static str,
    record_id: &str,
    explanation: &impl Serialize,
) -> TxResult<()> {
    let text = encode(explanation)?;
    tail.push(
        statement,
        vec![Box::new(record_id.to_owned()), Box::new(text)],
    );
    Ok(())
}
