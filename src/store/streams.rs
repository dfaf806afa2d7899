//! Reads behind the Watch/Subscribe streams: records in insertion (rowid)
//! order after a position. A position `p` means "every row with rowid <= p
//! has been seen".

use rusqlite::{Connection, Row, params};

use super::{Store, StoreResult, budget, entropy_history, responses};
use crate::domain::records::{BudgetRecord, EntropySnapshot, ResponseRecord};

/// A table that can be streamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamTable {
    Budget,
    Responses,
    Snapshots,
}

impl StreamTable {
    fn name(self) -> &'static str {
        match self {
            Self::Budget => "exploration_budget",
            Self::Responses => "entropy_responses",
            Self::Snapshots => "pattern_entropy_history",
        }
    }
}

/// Which rows a backfill counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamFilter {
    All,
    Job(String),
    ThresholdExceeded,
}

/// Smallest and largest rowid of a table (None when it is empty).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowidBounds {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

fn rows_after<T>(
    connection: &Connection,
    table: StreamTable,
    columns: &str,
    after: i64,
    limit: usize,
    map: impl Fn(&Row) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let sql = format!(
        "SELECT {columns} FROM {} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
        table.name()
    );
    let rows = connection
        .prepare_cached(&sql)?
        .query_map(params![after, limit as i64], map)?
        .collect::<rusqlite::Result<Vec<T>>>()?;
    Ok(rows)
}

impl Store {
    pub async fn budget_after(
        &self,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<(i64, BudgetRecord)>> {
        self.read(move |c| {
            rows_after(
                c,
                StreamTable::Budget,
                budget::COLUMNS,
                after,
                limit,
                budget::from_row,
            )
        })
        .await
    }

    pub async fn responses_after(
        &self,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<(i64, ResponseRecord)>> {
        self.read(move |c| {
            rows_after(
                c,
                StreamTable::Responses,
                responses::COLUMNS,
                after,
                limit,
                responses::from_row,
            )
        })
        .await
    }

    pub async fn snapshots_after(
        &self,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<(i64, EntropySnapshot)>> {
        self.read(move |c| {
            rows_after(
                c,
                StreamTable::Snapshots,
                entropy_history::COLUMNS,
                after,
                limit,
                |row| Ok((row.get(0)?, entropy_history::from_row(row)?.1)),
            )
        })
        .await
    }

    pub async fn rowid_bounds(&self, table: StreamTable) -> StoreResult<RowidBounds> {
        self.read(move |c| {
            let sql = format!("SELECT MIN(rowid), MAX(rowid) FROM {}", table.name());
            Ok(c.prepare_cached(&sql)?.query_row([], |row| {
                Ok(RowidBounds {
                    min: row.get(0)?,
                    max: row.get(1)?,
                })
            })?)
        })
        .await
    }

    /// The position after which the `count` most recent matching rows lie.
    pub async fn backfill_position(
        &self,
        table: StreamTable,
        filter: StreamFilter,
        count: usize,
    ) -> StoreResult<i64> {
        self.read(move |c| {
            let (condition, value): (&str, Option<String>) = match filter {
                StreamFilter::All => ("", None),
                StreamFilter::Job(job) => ("WHERE job_hash = ?2", Some(job)),
                StreamFilter::ThresholdExceeded => ("WHERE threshold_exceeded != 0", None),
            };
            let sql = format!(
                "SELECT rowid FROM {} {condition} ORDER BY rowid DESC LIMIT 1 OFFSET ?1",
                table.name()
            );
            let offset = count.saturating_sub(1) as i64;
            let mut statement = c.prepare_cached(&sql)?;
            let oldest: Option<i64> = match value {
                Some(value) => statement.query_row(params![offset, value], |r| r.get(0)),
                None => statement.query_row(params![offset], |r| r.get(0)),
            }
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
            match oldest {
                Some(rowid) if count > 0 => Ok(rowid - 1),
                // Fewer matching rows than asked for: all of them.
                None if count > 0 => Ok(0),
                _ => {
                    let max: Option<i64> = c
                        .prepare_cached(&format!("SELECT MAX(rowid) FROM {}", table.name()))?
                        .query_row([], |r| r.get(0))?;
                    Ok(max.unwrap_or(0))
                }
            }
        })
        .await
    }
}
