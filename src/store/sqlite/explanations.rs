//! `ls_budget_explanation` and `ls_response_explanation`: why each record the
//! service wrote has its value, written in the record's transaction. The
//! original's tables are untouched; its rows (and rows from before
//! explanations) have none, which reads see as NULL.
//!
//! Each explanation is keyed by its record's rowid, so that it is appended
//! at the end of its table like the record itself: keyed by the record's
//! random id, every write put a row of some 250 bytes into a random page of
//! a table that soon outgrew the writer's cache, and the writes took 70 %
//! longer (BENCHMARKS.md, "Explanations appended"). Rowids stay put under
//! VACUUM and VACUUM INTO (the stream cursors rely on that too); the record
//! id beside it makes a read that meets a renumbered or reused rowid see no
//! explanation rather than another record's.
//!
//! The explanation is JSON text (the domain struct through serde): it is
//! always read whole with its record, never queried by field, and a new input
//! is then a new optional field instead of a schema change on every backend.
//! A DELETE trigger on each original table removes the explanation with its
//! record, whoever deletes it (retention, or another program).

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::store::{StoreResult, explanation_json::encode};

pub(super) const BUDGET: &str = "ls_budget_explanation";
pub(super) const RESPONSES: &str = "ls_response_explanation";

/// Each explanation table with the table of its records.
const TABLES: [(&str, &str); 2] = [
    (BUDGET, "exploration_budget"),
    (RESPONSES, "entropy_responses"),
];

fn schema(table: &str, records: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
            record_rowid INTEGER PRIMARY KEY,
            record_id TEXT NOT NULL,
            explanation TEXT NOT NULL
        );
        CREATE TRIGGER IF NOT EXISTS {table}_delete AFTER DELETE ON {records}
        FOR EACH ROW BEGIN
            DELETE FROM {table} WHERE record_rowid = OLD.rowid;
        END;"
    )
}

/// Creates the tables and triggers, first rebuilding a table of the earlier
/// layout (keyed by `record_id`, WITHOUT ROWID) in the new one. Runs in the
/// caller's transaction.
pub(super) fn ensure(connection: &Connection) -> StoreResult<()> {
    for (table, records) in TABLES {
        if keyed_by_id(connection, table)? {
            // About 10 s per million records, once: say why the start waits.
            tracing::info!(
                table,
                "rebuilding explanations of an earlier release, keyed by record rowid (once)"
            );
            connection.execute_batch(&format!(
                "DROP TRIGGER IF EXISTS {table}_delete;
                 ALTER TABLE {table} RENAME TO {table}_by_id;
                 {schema}
                 INSERT INTO {table} (record_rowid, record_id, explanation)
                     SELECT r.rowid, r.id, o.explanation FROM {table}_by_id o
                     JOIN {records} r ON r.id = o.record_id;
                 DROP TABLE {table}_by_id;",
                schema = schema(table, records)
            ))?;
        }
        connection.execute_batch(&schema(table, records))?;
    }
    Ok(())
}

/// Whether `table` exists in the earlier layout, without `record_rowid`.
fn keyed_by_id(connection: &Connection, table: &str) -> StoreResult<bool> {
    let columns: Vec<String> = connection
        .prepare("SELECT name FROM pragma_table_info(?1)")?
        .query_map([table], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(!columns.is_empty() && !columns.iter().any(|c| c == "record_rowid"))
}

/// The explanation of the current row of `records`, as a column of its
/// SELECT (a subquery, so that the SELECT's own `rowid` stays unambiguous).
pub(super) fn column(table: &str, records: &str) -> String {
    format!(
        "(SELECT x.explanation FROM {table} x \
         WHERE x.record_rowid = {records}.rowid AND x.record_id = {records}.id)"
    )
}

/// The same column for a file that may still have the earlier layout (one
/// `migrate` reads without opening it for writing).
pub(super) fn column_in(
    connection: &Connection,
    table: &str,
    records: &str,
) -> StoreResult<String> {
    Ok(if keyed_by_id(connection, table)? {
        format!("(SELECT x.explanation FROM {table} x WHERE x.record_id = {records}.id)")
    } else {
        column(table, records)
    })
}

/// Stores the explanation of the record this connection inserted last
/// (`record_id`, at `last_insert_rowid`) in `table` ([`BUDGET`] or
/// [`RESPONSES`]). A row left under a reused rowid by a deletion without the
/// trigger is replaced.
pub(super) fn insert(
    connection: &Connection,
    table: &str,
    record_id: &str,
    explanation: &impl Serialize,
) -> StoreResult<()> {
    let record_rowid = connection.last_insert_rowid();
    let sql = format!(
        "INSERT OR REPLACE INTO {table} (record_rowid, record_id, explanation) VALUES (?1, ?2, ?3)"
    );
    connection.prepare_cached(&sql)?.execute(params![
        record_rowid,
        record_id,
        encode(explanation)?
    ])?;
    Ok(())
}
