//! The source side of `learning-service migrate`: a SQLite store (the
//! original's file included) read in rowid order, in batches, through the
//! same tolerant cell readers as the backend's own reads (`cells`), so that
//! a row the service would leave out is left out of the copy too.
//!
//! The file is opened read-only, and read in one read transaction for the
//! whole run: the batches and the row counts of the verification see one
//! snapshot, while a service may go on writing the file.

use std::path::Path;

use rusqlite::Connection;

use super::{cells, explanations, json, maintenance};
use crate::store::copy::{CopyTable, Extra, Kind, SourceBatch, Value};

pub struct Export {
    connection: Connection,
    /// Whether the file has `ls_snapshot_diversity` (the original's has not).
    snapshot_diversity: bool,
    /// The explanation tables the file has (the original's has none),
    /// each with the column that reads it in the file's layout.
    explanations: Vec<(&'static str, String)>,
}

/// Rows per read of the scans that count [`Extra`]s.
const SCAN_BATCH: usize = 2000;

fn sql_error(error: rusqlite::Error) -> String {
    format!("cannot read the SQLite file: {error}")
}

impl Export {
    /// Opens `path` read-only (refused when it is not a store of the schema
    /// this service keeps) and starts the read transaction.
    pub fn open(path: &Path) -> Result<Self, String> {
        let connection = maintenance::open_read_only(path)?;
        // The snapshot starts at the first read after BEGIN.
        connection
            .execute_batch("BEGIN DEFERRED; SELECT COUNT(*) FROM schema_version;")
            .map_err(sql_error)?;
        let has = |table: &str| -> Result<bool, String> {
            connection
                .query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n > 0)
                .map_err(sql_error)
        };
        let snapshot_diversity = has("ls_snapshot_diversity")?;
        let mut explanations = Vec::new();
        for (table, records) in CopyTable::ALL
            .iter()
            .filter_map(|t| Some((t.explanations()?, t.name())))
        {
            if has(table)? {
                let column = explanations::column_in(&connection, table, records)
                    .map_err(|error| format!("cannot read the SQLite file: {error}"))?;
                explanations.push((table, column));
            }
        }
        Ok(Self {
            connection,
            snapshot_diversity,
            explanations,
        })
    }

    /// What the SELECT of `table` reads for `column`: the column, or for the
    /// values SQLite keeps in a table of their own, a subquery on the row's
    /// id (NULL when the file has no such table).
    fn source(&self, table: CopyTable, column: &str) -> String {
        match (table, column) {
            (CopyTable::Snapshots, "perplexity" | "inverse_simpson") if self.snapshot_diversity => {
                format!(
                    "(SELECT d.{column} FROM ls_snapshot_diversity d \
                     WHERE d.snapshot_id = pattern_entropy_history.id)"
                )
            }
            (CopyTable::Snapshots, "perplexity" | "inverse_simpson") => "NULL".to_owned(),
            _ => column.to_owned(),
        }
    }

    /// The explanation of each row of `table`, or NULL.
    fn explanation_source(&self, table: CopyTable) -> String {
        table
            .explanations()
            .and_then(|name| self.explanations.iter().find(|(t, _)| *t == name))
            .map_or_else(|| "NULL".to_owned(), |(_, column)| column.clone())
    }

    /// How many of `extra` the file's readable rows have, read as the copy
    /// reads them (one scan of its table).
    pub fn count(&self, extra: Extra) -> Result<i64, String> {
        let (table, mut after, mut n) = (extra.table(), i64::MIN, 0);
        loop {
            let batch = self.rows_after(table, after, SCAN_BATCH)?;
            let Some(last) = batch.last_rowid else {
                return Ok(n);
            };
            n += match extra {
                Extra::Explanations(_) => batch.explanations.len(),
                Extra::SnapshotDiversity => batch
                    .rows
                    .iter()
                    .filter(|row| Extra::has_diversity(row))
                    .count(),
            } as i64;
            after = last;
        }
    }

    /// Every row of `table`, readable or not.
    pub fn row_count(&self, table: CopyTable) -> Result<i64, String> {
        self.connection
            .query_row(&format!("SELECT COUNT(*) FROM {}", table.name()), [], |r| {
                r.get(0)
            })
            .map_err(sql_error)
    }

    /// Up to `limit` rows of `table` after `after_rowid`, in rowid order (the
    /// order the service reads and streams them in).
    pub fn rows_after(
        &self,
        table: CopyTable,
        after_rowid: i64,
        limit: usize,
    ) -> Result<SourceBatch, String> {
        let columns = table.columns();
        let mut selected: Vec<String> = columns
            .iter()
            .map(|(name, _)| self.source(table, name))
            .collect();
        selected.push(self.explanation_source(table));
        let mut statement = self
            .connection
            .prepare_cached(&format!(
                "SELECT rowid, {} FROM {} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
                selected.join(", "),
                table.name()
            ))
            .map_err(sql_error)?;
        let explanation_index = columns.len() + 1;
        let rows = statement
            .query_map(rusqlite::params![after_rowid, limit as i64], |row| {
                cells::read(row, table.name(), |c| {
                    let values = columns
                        .iter()
                        .enumerate()
                        .map(|(index, (_, kind))| value(c, index + 1, *kind))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((values, c.optional_text(explanation_index)))
                })
            })
            .map_err(sql_error)?;
        let mut batch = SourceBatch::default();
        for row in rows {
            let (rowid, read) = row.map_err(sql_error)?;
            batch.last_rowid = Some(rowid);
            match read {
                Some((values, explanation)) => {
                    if let (Some(explanation), Some(Value::Text(Some(id)))) =
                        (explanation, values.first())
                    {
                        batch.explanations.push((id.clone(), text(explanation)));
                    }
                    batch.rows.push(values);
                }
                None => batch.left_out += 1,
            }
        }
        Ok(batch)
    }
}

/// PostgreSQL's text cannot hold NUL, which SQLite's can: it becomes U+FFFD.
fn text(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{fffd}")
    } else {
        text
    }
}

/// One cell as the backend's readers read it (see [`Kind`]).
fn value(c: &mut cells::Cells, index: usize, kind: Kind) -> Result<Value, cells::Unreadable> {
    // A time is carried as its text when it reads as a time, else as absent.
    let time = |c: &mut cells::Cells| c.time(index).and(c.optional_text(index));
    Ok(match kind {
        Kind::Text => Value::Text(c.optional_text(index).map(text)),
        Kind::RequiredText => Value::Text(Some(text(c.text(index)?))),
        Kind::ExactText => Value::Text(Some(text(c.exact_text(index)?.to_owned()))),
        Kind::Time => Value::Text(time(c)),
        Kind::RequiredTime => Value::Text(Some(time(c).unwrap_or_default())),
        Kind::Real => Value::Real(c.optional_real(index)),
        Kind::RequiredReal => Value::Real(Some(c.real(index)?)),
        Kind::Integer => Value::Integer(c.integer(index).ok()),
        Kind::RequiredInteger => Value::Integer(Some(c.integer(index)?)),
        Kind::Count => Value::Integer(Some(c.integer_or(index, 0))),
        Kind::Flag(default) => Value::Integer(Some(i64::from(c.flag(index, default)))),
        Kind::OptionalFlag => Value::Bool(c.optional_flag(index)),
        Kind::List => Value::Text(Some(json::write_list(&c.list(index)))),
    })
}
