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

use super::{cells, json, maintenance};
use crate::store::copy::{CopyTable, Kind, SourceBatch, Value};

pub struct Export {
    connection: Connection,
}

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
        Ok(Self { connection })
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
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        let mut statement = self
            .connection
            .prepare_cached(&format!(
                "SELECT rowid, {} FROM {} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
                names.join(", "),
                table.name()
            ))
            .map_err(sql_error)?;
        let rows = statement
            .query_map(rusqlite::params![after_rowid, limit as i64], |row| {
                cells::read(row, table.name(), |c| {
                    columns
                        .iter()
                        .enumerate()
                        .map(|(index, (_, kind))| value(c, index + 1, *kind))
                        .collect()
                })
            })
            .map_err(sql_error)?;
        let mut batch = SourceBatch::default();
        for row in rows {
            let (rowid, values) = row.map_err(sql_error)?;
            batch.last_rowid = Some(rowid);
            match values {
                Some(values) => batch.rows.push(values),
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
