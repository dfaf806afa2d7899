//! Reads behind the Watch/Subscribe streams: records in insertion (rowid)
//! order after a position. A stream position is a rowid: "every row with
//! rowid <= p has been seen". Rowids follow commit order because one writer
//! commits at a time and a new row takes the largest rowid + 1 (the tables
//! have no AUTOINCREMENT, so rowids are dense unless rows were deleted).

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::page::Keyed;
use crate::store::{Position, StoreResult, StreamBounds, StreamFilter, StreamTable, Streamed};

pub(super) fn table_name(table: StreamTable) -> &'static str {
    match table {
        StreamTable::Budget => "exploration_budget",
        StreamTable::Responses => "entropy_responses",
        StreamTable::Snapshots => "pattern_entropy_history",
    }
}

fn position(rowid: i64) -> Position {
    Position::new(rowid).unwrap_or(Position::START)
}

/// Rows of `select` (`SELECT rowid, ... FROM` a streamed table, joined or
/// not) after `after`, mapped by `map`; unreadable rows keep their place as
/// None.
pub(super) fn rows_after<T>(
    connection: &Connection,
    select: &str,
    after: Position,
    limit: usize,
    map: impl Fn(&Row) -> Keyed<i64, T>,
) -> StoreResult<Streamed<T>> {
    let sql = format!("{select} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2");
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(params![after.value(), limit as i64], map)?;
    let mut read = Vec::with_capacity(limit.min(64));
    for row in rows {
        let (rowid, record) = row?;
        read.push((position(rowid), record));
    }
    Ok(read)
}

pub(super) fn bounds(connection: &Connection, table: StreamTable) -> StoreResult<StreamBounds> {
    let sql = format!("SELECT MIN(rowid), MAX(rowid) FROM {}", table_name(table));
    let (oldest, newest): (Option<i64>, Option<i64>) = connection
        .prepare_cached(&sql)?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(StreamBounds {
        oldest: oldest.map(position),
        newest: newest.map(position),
    })
}

/// The position after which the `count` most recent matching rows lie.
pub(super) fn backfill_start(
    connection: &Connection,
    table: StreamTable,
    filter: StreamFilter,
    count: usize,
) -> StoreResult<Position> {
    if count == 0 {
        return Ok(bounds(connection, table)?.end());
    }
    let (condition, value): (&str, Option<String>) = match filter {
        StreamFilter::All => ("", None),
        StreamFilter::Job(job) => ("WHERE job_hash = ?2", Some(job)),
        StreamFilter::ThresholdExceeded => ("WHERE threshold_exceeded != 0", None),
    };
    let sql = format!(
        "SELECT rowid FROM {} {condition} ORDER BY rowid DESC LIMIT 1 OFFSET ?1",
        table_name(table)
    );
    let offset = (count - 1) as i64;
    let mut statement = connection.prepare_cached(&sql)?;
    let oldest: Option<i64> = match value {
        Some(value) => statement.query_row(params![offset, value], |r| r.get(0)),
        None => statement.query_row(params![offset], |r| r.get(0)),
    }
    .optional()?;
    // Fewer matching rows than asked for: all of them.
    Ok(oldest.map_or(Position::START, |rowid| position(rowid).before()))
}
