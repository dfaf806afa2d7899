//! Newest-first reads of the job-scoped tables, and their pages.

use crate::store::{Page, PageKey};

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
