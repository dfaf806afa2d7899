//! Reading rows that other programs may have written. SQLite stores any
//! value in any column (its declared type is only an affinity), so a row of
//! the original's tables can hold text in `budget_value`, a blob in
//! `recorded_at`, invalid UTF-8 in `job_hash` or, in a file whose tables were
//! created without `NOT NULL`, NULL anywhere. A read never fails on such a
//! value:
//!
//! - text columns take text and blobs as UTF-8 (invalid sequences replaced
//!   by U+FFFD) and numbers in their decimal form;
//! - number columns take integers and reals; an integer column takes a real
//!   only when it is a whole number. Text is not a number: the columns have
//!   numeric affinity, so SQLite stores text that is a number as a number;
//! - flags are SQLite's truth (`x != 0`, as the aggregates count them);
//! - a value that cannot be read is absent where the record allows it
//!   (times, optional numbers, counts with a default), and otherwise the
//!   whole row is left out of the read.
//!
//! Both cases are counted (see [`crate::store::unreadable`]) and logged with
//! the table, the rowid and the column, at most [`LOG_LINES_PER_MINUTE`]
//! lines a minute. The common case costs what `row.get` did: cells are read
//! by reference and converted, with no allocation beyond the owned text.

use std::sync::{
    LazyLock,
    atomic::{AtomicU64, Ordering},
};

use chrono::{DateTime, Utc};
use rusqlite::{Row, types::ValueRef};

use super::time;
use crate::store::unreadable;

/// Why a row cannot be represented: its column `0` holds an unreadable value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Unreadable(usize);

/// The cells of one row, with the first value that was read as absent.
pub(super) struct Cells<'a, 'r> {
    row: &'a Row<'r>,
    absent: Option<usize>,
}

/// Reads a row whose column 0 is the rowid: the record `build` makes of the
/// other cells, or None when the row cannot be represented (counted and logged).
pub(super) fn read<T>(
    row: &Row,
    table: &'static str,
    build: impl FnOnce(&mut Cells) -> Result<T, Unreadable>,
) -> rusqlite::Result<(i64, Option<T>)> {
    let rowid = row.get::<_, i64>(0)?;
    let mut cells = Cells { row, absent: None };
    match build(&mut cells) {
        Ok(record) => {
            if let Some(column) = cells.absent {
                unreadable::count_value_unreadable(table);
                report(row, table, rowid, column, "a value was read as absent");
            }
            Ok((rowid, Some(record)))
        }
        Err(Unreadable(column)) => {
            unreadable::count_row_skipped(table);
            report(row, table, rowid, column, "row skipped");
            Ok((rowid, None))
        }
    }
}

impl<'a> Cells<'a, '_> {
    fn cell(&self, index: usize) -> ValueRef<'a> {
        // Only an index past the statement's columns fails: a defect the
        // tests of every read would show as skipped rows.
        self.row.get_ref(index).unwrap_or(ValueRef::Null)
    }

    fn note_absent(&mut self, index: usize) {
        self.absent.get_or_insert(index);
    }

    /// Text that must be there.
    pub fn text(&mut self, index: usize) -> Result<String, Unreadable> {
        self.optional_text(index).ok_or(Unreadable(index))
    }

    /// Text, None for NULL.
    pub fn optional_text(&mut self, index: usize) -> Option<String> {
        match self.cell(index) {
            ValueRef::Null => None,
            ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
                Some(match std::str::from_utf8(bytes) {
                    Ok(text) => text.to_owned(),
                    Err(_) => {
                        self.note_absent(index);
                        String::from_utf8_lossy(bytes).into_owned()
                    }
                })
            }
            ValueRef::Integer(value) => Some(value.to_string()),
            ValueRef::Real(value) => Some(format!("{value:?}")),
        }
    }

    /// Valid UTF-8 text, exactly as stored (a key that is bound again).
    pub fn exact_text(&self, index: usize) -> Result<&'a str, Unreadable> {
        match self.cell(index) {
            ValueRef::Text(bytes) => std::str::from_utf8(bytes).map_err(|_| Unreadable(index)),
            _ => Err(Unreadable(index)),
        }
    }

    /// A number that must be there.
    pub fn real(&self, index: usize) -> Result<f64, Unreadable> {
        match self.cell(index) {
            ValueRef::Real(value) => Ok(value),
            ValueRef::Integer(value) => Ok(value as f64),
            _ => Err(Unreadable(index)),
        }
    }

    /// A number, None for NULL or a value that is not a number.
    pub fn optional_real(&mut self, index: usize) -> Option<f64> {
        match self.cell(index) {
            ValueRef::Null => None,
            _ => self
                .real(index)
                .inspect_err(|_| self.note_absent(index))
                .ok(),
        }
    }

    /// A whole number that must be there.
    pub fn integer(&self, index: usize) -> Result<i64, Unreadable> {
        whole(self.cell(index)).ok_or(Unreadable(index))
    }

    /// A whole number with a column default, used for NULL and for a value
    /// that is not a whole number.
    pub fn integer_or(&mut self, index: usize, default: i64) -> i64 {
        match self.cell(index) {
            ValueRef::Null => default,
            cell => whole(cell).unwrap_or_else(|| {
                self.note_absent(index);
                default
            }),
        }
    }

    /// SQLite's truth of the value (`x != 0`: text and blobs are true), the
    /// default for NULL.
    pub fn flag(&self, index: usize, default: bool) -> bool {
        match self.cell(index) {
            ValueRef::Null => default,
            ValueRef::Integer(value) => value != 0,
            ValueRef::Real(value) => value != 0.0,
            ValueRef::Text(_) | ValueRef::Blob(_) => true,
        }
    }

    /// SQLite's truth of the value, None for NULL.
    pub fn optional_flag(&self, index: usize) -> Option<bool> {
        match self.cell(index) {
            ValueRef::Null => None,
            _ => Some(self.flag(index, false)),
        }
    }

    /// A time in one of the accepted forms (see `time`); None for NULL and
    /// for anything else (numbers included: their unit is anyone's guess).
    pub fn time(&mut self, index: usize) -> Option<DateTime<Utc>> {
        let parsed = match self.cell(index) {
            ValueRef::Null => return None,
            ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
                std::str::from_utf8(bytes).ok().and_then(time::parse)
            }
            ValueRef::Integer(_) | ValueRef::Real(_) => None,
        };
        if parsed.is_none() {
            self.note_absent(index);
        }
        parsed
    }

    /// A JSON list of strings (see `json`); empty for NULL, and for a value
    /// that is not one.
    pub fn list(&mut self, index: usize) -> Vec<String> {
        let text = self.optional_text(index);
        super::json::read_list(text.as_deref()).unwrap_or_else(|| {
            self.note_absent(index);
            Vec::new()
        })
    }
}

/// A whole number: an integer, or a real without a fraction in range.
fn whole(cell: ValueRef) -> Option<i64> {
    match cell {
        ValueRef::Integer(value) => Some(value),
        // Both bounds exact in f64; `as` would saturate silently.
        ValueRef::Real(value)
            if value.fract() == 0.0
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&value) =>
        {
            Some(value as i64)
        }
        _ => None,
    }
}

/// A lenient read of a single value of the service's own tables (`ls_`):
/// None for NULL and for a value that is not a number.
pub(super) fn number(cell: ValueRef) -> Option<f64> {
    match cell {
        ValueRef::Real(value) => Some(value),
        ValueRef::Integer(value) => Some(value as f64),
        _ => None,
    }
}

/// [`number`] for whole numbers.
pub(super) fn whole_number(cell: ValueRef) -> Option<i64> {
    whole(cell)
}

/// Log lines about unreadable rows per minute, whatever their number (each
/// read that meets a row reports it, and a dashboard may read often).
pub const LOG_LINES_PER_MINUTE: u64 = 20;

static STARTED: LazyLock<std::time::Instant> = LazyLock::new(std::time::Instant::now);
/// The minute of the current window, and the lines logged and left out in it.
static WINDOW: AtomicU64 = AtomicU64::new(0);
static LOGGED: AtomicU64 = AtomicU64::new(0);
static LEFT_OUT: AtomicU64 = AtomicU64::new(0);

/// Whether a line may be logged now; with the number of lines left out in
/// the windows before.
fn may_log() -> Option<u64> {
    let minute = STARTED.elapsed().as_secs() / 60 + 1;
    if WINDOW.swap(minute, Ordering::Relaxed) != minute {
        LOGGED.store(0, Ordering::Relaxed);
    }
    if LOGGED.fetch_add(1, Ordering::Relaxed) < LOG_LINES_PER_MINUTE {
        Some(LEFT_OUT.swap(0, Ordering::Relaxed))
    } else {
        LEFT_OUT.fetch_add(1, Ordering::Relaxed);
        None
    }
}

fn report(row: &Row, table: &'static str, rowid: i64, column: usize, what: &'static str) {
    let Some(left_out) = may_log() else {
        return;
    };
    let statement = row.as_ref();
    let column_name = statement.column_name(column).unwrap_or("?");
    let found = row
        .get_ref(column)
        .map(|cell| cell.data_type().to_string())
        .unwrap_or_default();
    tracing::warn!(
        table,
        rowid,
        column = column_name,
        found,
        earlier_lines_left_out = left_out,
        "unreadable value in a row written by another program: {what}"
    );
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    fn first_row<T>(sql: &str, build: impl Fn(&mut Cells) -> Result<T, Unreadable>) -> Option<T> {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .query_row(sql, [], |row| read(row, "t", &build))
            .unwrap()
            .1
    }

    #[test]
    fn text_columns_take_text_blobs_and_numbers() {
        let read = |sql: &str| first_row(sql, |c| c.text(1));
        assert_eq!(read("SELECT 1, 'job'").as_deref(), Some("job"));
        assert_eq!(read("SELECT 1, x'6a6f62'").as_deref(), Some("job"));
        assert_eq!(read("SELECT 1, 42").as_deref(), Some("42"));
        assert_eq!(read("SELECT 1, 0.5").as_deref(), Some("0.5"));
        assert_eq!(
            read("SELECT 1, CAST(x'6aff62' AS TEXT)").as_deref(),
            Some("j\u{fffd}b")
        );
        assert_eq!(read("SELECT 1, NULL"), None);
    }

    #[test]
    fn numbers_are_integers_and_reals_only() {
        let real = |sql: &str| first_row(sql, |c| c.real(1));
        assert_eq!(real("SELECT 1, 0.25"), Some(0.25));
        assert_eq!(real("SELECT 1, 3"), Some(3.0));
        assert_eq!(real("SELECT 1, 'abc'"), None);
        assert_eq!(real("SELECT 1, '0.5'"), None);
        assert_eq!(real("SELECT 1, x'00'"), None);
        let integer = |sql: &str| first_row(sql, |c| c.integer(1));
        assert_eq!(integer("SELECT 1, 7"), Some(7));
        assert_eq!(integer("SELECT 1, 7.0"), Some(7));
        assert_eq!(integer("SELECT 1, 7.5"), None);
        assert_eq!(integer("SELECT 1, 1e300"), None);
        let optional = |sql: &str| first_row(sql, |c| Ok(c.optional_real(1))).unwrap();
        assert_eq!(optional("SELECT 1, 'abc'"), None);
        assert_eq!(optional("SELECT 1, 0.5"), Some(0.5));
        let defaulted = |sql: &str| first_row(sql, |c| Ok(c.integer_or(1, 9))).unwrap();
        assert_eq!(defaulted("SELECT 1, NULL"), 9);
        assert_eq!(defaulted("SELECT 1, 'x'"), 9);
        assert_eq!(defaulted("SELECT 1, 2"), 2);
    }

    #[test]
    fn flags_times_and_lists_never_fail() {
        let flag = |sql: &str| first_row(sql, |c| Ok(c.flag(1, false))).unwrap();
        assert!(!flag("SELECT 1, NULL"));
        assert!(!flag("SELECT 1, 0"));
        assert!(flag("SELECT 1, 'yes'"));
        assert!(flag("SELECT 1, 0.5"));
        let time = |sql: &str| first_row(sql, |c| Ok(c.time(1))).unwrap();
        assert!(time("SELECT 1, '2025-01-01T10:00:00'").is_some());
        assert!(time("SELECT 1, CAST('2025-01-01T10:00:00' AS BLOB)").is_some());
        assert!(time("SELECT 1, x'ff00'").is_none());
        assert!(time("SELECT 1, 1700000000").is_none());
        let list = |sql: &str| first_row(sql, |c| Ok(c.list(1))).unwrap();
        assert_eq!(list(r#"SELECT 1, '["a", "b"]'"#), vec!["a", "b"]);
        assert!(list("SELECT 1, 12").is_empty());
        assert!(list("SELECT 1, x'ff'").is_empty());
    }

    #[test]
    fn skipped_rows_and_absent_values_are_counted() {
        let skipped = unreadable::rows_skipped("patterns");
        let absent = unreadable::values_unreadable("patterns");
        let connection = Connection::open_in_memory().unwrap();
        let (rowid, record) = connection
            .query_row("SELECT 5, 'abc', 'not a time'", [], |row| {
                read(row, "patterns", |c| Ok((c.real(1)?, c.time(2))))
            })
            .unwrap();
        assert_eq!((rowid, record), (5, None));
        assert_eq!(unreadable::rows_skipped("patterns"), skipped + 1);
        let (_, record) = connection
            .query_row("SELECT 6, 0.5, 'not a time'", [], |row| {
                read(row, "patterns", |c| Ok((c.real(1)?, c.time(2))))
            })
            .unwrap();
        assert_eq!(record, Some((0.5, None)));
        assert_eq!(unreadable::values_unreadable("patterns"), absent + 1);
    }

    #[test]
    fn log_lines_are_limited_per_minute() {
        let allowed = (0..LOG_LINES_PER_MINUTE * 3)
            .filter(|_| may_log().is_some())
            .count() as u64;
        // Other tests may log in the same minute too.
        assert!(allowed <= LOG_LINES_PER_MINUTE, "{allowed}");
    }
}
