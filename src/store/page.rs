//! Keyset pagination: a page ends at a key, the next page starts after it.

/// Where the next page starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageKey {
    /// Rows inserted before this rowid (newest-first lists).
    Before(i64),
    /// Rows inserted after this rowid (oldest-first lists).
    After(i64),
    /// Snapshots ordered before (calculated_at, rowid), newest first.
    BeforeCalculated { calculated_at: String, rowid: i64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<PageKey>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` keyed rows: the extra row only
    /// tells that there is more.
    pub(crate) fn from_rows(mut rows: Vec<(PageKey, T)>, limit: usize) -> Page<T> {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more {
            rows.last().map(|(key, _)| key.clone())
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(|(_, item)| item).collect(),
            next,
        }
    }
}

/// Rows of a job-scoped table (`select` is `SELECT rowid, ... FROM table`),
/// last inserted first, inserted before `before`, at most `fetch` of them.
pub(super) fn newest_rows<T>(
    connection: &rusqlite::Connection,
    select: &str,
    job: Option<&str>,
    before: Option<i64>,
    fetch: usize,
    map: impl Fn(&rusqlite::Row) -> rusqlite::Result<(i64, T)>,
) -> super::StoreResult<Vec<(i64, T)>> {
    let before = before.unwrap_or(i64::MAX);
    let limit = fetch as i64;
    let (sql, params): (String, Vec<&dyn rusqlite::ToSql>) = match &job {
        Some(job) => (
            format!("{select} WHERE job_hash = ?1 AND rowid < ?2 ORDER BY rowid DESC LIMIT ?3"),
            vec![job, &before, &limit],
        ),
        None => (
            format!("{select} WHERE rowid < ?1 ORDER BY rowid DESC LIMIT ?2"),
            vec![&before, &limit],
        ),
    };
    // Sized once: growing a vector of records by doubling copied them a few
    // times per page. `fetch` is bounded by the largest page size.
    let mut rows = Vec::with_capacity(fetch);
    for row in connection
        .prepare_cached(&sql)?
        .query_map(params.as_slice(), map)?
    {
        rows.push(row?);
    }
    Ok(rows)
}

/// The last inserted row of a job-scoped table (or of every job), mapped
/// without its rowid.
pub(super) fn newest_row<T>(
    connection: &rusqlite::Connection,
    select: &str,
    job: Option<&str>,
    map: impl Fn(&rusqlite::Row) -> rusqlite::Result<(i64, T)>,
) -> super::StoreResult<Option<T>> {
    let mut rows = newest_rows(connection, select, job, None, 1, map)?;
    Ok(rows.pop().map(|(_, item)| item))
}

/// A newest-first page of a job-scoped table.
pub(super) fn newest_page<T>(
    connection: &rusqlite::Connection,
    select: &str,
    job: Option<&str>,
    before: Option<i64>,
    limit: usize,
    map: impl Fn(&rusqlite::Row) -> rusqlite::Result<(i64, T)>,
) -> super::StoreResult<Page<T>> {
    let rows = newest_rows(connection, select, job, before, limit + 1, map)?;
    let keyed = rows
        .into_iter()
        .map(|(rowid, item)| (PageKey::Before(rowid), item))
        .collect();
    Ok(Page::from_rows(keyed, limit))
}
