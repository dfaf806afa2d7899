//! Newest-first reads of the job-scoped tables, and their pages. Rows that
//! cannot be read (see `cells`) are left out without shortening a page: the
//! read goes on past them until it has as many rows as asked for.

use crate::store::{Page, PageKey};

/// A row as read: its key, and its record unless it could not be read.
pub(super) type Keyed<K, T> = rusqlite::Result<(K, Option<T>)>;

/// Reads until `fetch` rows were readable or the rows ran out. `read(from,
/// want, out)` reads up to `want` rows after the key `from` (from the start
/// for None), appending the readable ones to `out` (see [`push_readable`]).
pub(super) fn until_filled<K, T>(
    fetch: usize,
    start: Option<K>,
    mut read: impl FnMut(Option<K>, usize, &mut Vec<(K, T)>) -> super::StoreResult<Pushed<K>>,
) -> super::StoreResult<Vec<(K, T)>> {
    // Sized once: growing a vector of records by doubling copied them a few
    // times per page. `fetch` is bounded by the largest page size.
    let mut rows = Vec::with_capacity(fetch);
    let mut from = start;
    loop {
        let want = fetch - rows.len();
        let pushed = read(from, want, &mut rows)?;
        // Fewer rows than asked for: the end. Otherwise only skipped rows
        // can have left room, and the rows after them fill it.
        if pushed.read < want || rows.len() == fetch {
            return Ok(rows);
        }
        from = pushed.last;
    }
}

/// What one query of [`until_filled`] read.
pub(super) struct Pushed<K> {
    read: usize,
    last: Option<K>,
}

/// Appends the readable rows of `rows` to `out`.
pub(super) fn push_readable<K: Clone, T>(
    rows: impl Iterator<Item = Keyed<K, T>>,
    out: &mut Vec<(K, T)>,
) -> super::StoreResult<Pushed<K>> {
    let (mut read, mut last_skipped) = (0, None);
    for row in rows {
        let (key, item) = row?;
        read += 1;
        match item {
            Some(item) => {
                out.push((key, item));
                last_skipped = None;
            }
            None => last_skipped = Some(key),
        }
    }
    // One clone per query, not per row.
    let last = last_skipped.or_else(|| out.last().map(|(key, _)| key.clone()));
    Ok(Pushed { read, last })
}

/// Readable rows of a job-scoped table (`select` is `SELECT rowid, ... FROM
/// table`), last inserted first, inserted before `before`, at most `fetch`.
pub(super) fn newest_rows<T>(
    connection: &rusqlite::Connection,
    select: &str,
    job: Option<&str>,
    before: Option<i64>,
    fetch: usize,
    map: impl Fn(&rusqlite::Row) -> Keyed<i64, T>,
) -> super::StoreResult<Vec<(i64, T)>> {
    let sql = match job {
        Some(_) => {
            format!("{select} WHERE job_hash = ?1 AND rowid < ?2 ORDER BY rowid DESC LIMIT ?3")
        }
        None => format!("{select} WHERE rowid < ?1 ORDER BY rowid DESC LIMIT ?2"),
    };
    let mut statement = connection.prepare_cached(&sql)?;
    until_filled(fetch, before, |from, want, out| {
        let before = from.unwrap_or(i64::MAX);
        let limit = want as i64;
        let rows = match job {
            Some(job) => statement.query_map(rusqlite::params![job, before, limit], &map)?,
            None => statement.query_map(rusqlite::params![before, limit], &map)?,
        };
        push_readable(rows, out)
    })
}

/// The last inserted readable row of a job-scoped table (or of every job),
/// mapped without its rowid.
pub(super) fn newest_row<T>(
    connection: &rusqlite::Connection,
    select: &str,
    job: Option<&str>,
    map: impl Fn(&rusqlite::Row) -> Keyed<i64, T>,
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
    map: impl Fn(&rusqlite::Row) -> Keyed<i64, T>,
) -> super::StoreResult<Page<T>> {
    let rows = newest_rows(connection, select, job, before, limit + 1, map)?;
    let keyed = rows
        .into_iter()
        .map(|(rowid, item)| (PageKey::Before(rowid), item))
        .collect();
    Ok(Page::from_rows(keyed, limit))
}
