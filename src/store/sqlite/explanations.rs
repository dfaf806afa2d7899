//! `ls_budget_explanation` and `ls_response_explanation`: why each record the
//! service wrote has its value, keyed by the record's id and written in the
//! record's transaction. The original's tables are untouched; its rows (and
//! rows from before explanations) have none, which reads join as NULL.
//!
//! The explanation is JSON text (the domain struct through serde): it is
//! always read whole with its record, never queried by field, and a new input
//! is then a new optional field instead of a schema change on every backend.
//! A DELETE trigger on each original table removes the explanation with its
//! record, whoever deletes it (retention, or another program).

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::store::{StoreResult, explanation_json::encode};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ls_budget_explanation (
    record_id TEXT PRIMARY KEY,
    explanation TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ls_response_explanation (
    record_id TEXT PRIMARY KEY,
    explanation TEXT NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS ls_budget_explanation_delete AFTER DELETE ON exploration_budget
FOR EACH ROW BEGIN
    DELETE FROM ls_budget_explanation WHERE record_id = OLD.id;
END;
CREATE TRIGGER IF NOT EXISTS ls_response_explanation_delete AFTER DELETE ON entropy_responses
FOR EACH ROW BEGIN
    DELETE FROM ls_response_explanation WHERE record_id = OLD.id;
END;
";

pub(super) const BUDGET: &str = "ls_budget_explanation";
pub(super) const RESPONSES: &str = "ls_response_explanation";

/// Stores the explanation of record `record_id` in `table` ([`BUDGET`] or [`RESPONSES`]).
pub(super) fn insert(
    connection: &Connection,
    table: &str,
    record_id: &str,
    explanation: &impl Serialize,
) -> StoreResult<()> {
    let sql = format!("INSERT INTO {table} (record_id, explanation) VALUES (?1, ?2)");
    connection
        .prepare_cached(&sql)?
        .execute(params![record_id, encode(explanation)?])?;
    Ok(())
}
