//! Newest-first reads of the job-scoped tables, and their pages.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{sql, tx::TxResult};
use crate::store::{Page, PageKey};

/// Rows of a job-scoped table (`select` is `SELECT pos, ... FROM table`),
/// newest first, before `before`, at most `fetch`.
pub async fn newest_rows<T>(
    c: &impl GenericClient,
    select: &str,
    job: Option<&str>,
    before: Option<i64>,
    fetch: usize,
    map: impl Fn(&Row) -> TxResult<(i64, T)>,
) -> TxResult<Vec<(i64, T)>> {
    let before = before.unwrap_or(i64::MAX);
    let limit = fetch as i64;
    let rows = match job {
        Some(job) => {
            let text =
                format!("{select} WHERE job_hash = $1 AND pos < $2 ORDER BY pos DESC LIMIT $3");
            sql::query(c, &text, &[&job, &before, &limit]).await?
        }
        None => {
            let text = format!("{select} WHERE pos < $1 ORDER BY pos DESC LIMIT $2");
            sql::query(c, &text, &[&before, &limit]).await?
        }
    };
    rows.iter().map(map).collect()
}

pub async fn newest_row<T>(
    c: &impl GenericClient,
    select: &str,
    job: Option<&str>,
    map: impl Fn(&Row) -> TxResult<(i64, T)>,
) -> TxResult<Option<T>> {
    let mut rows = newest_rows(c, select, job, None, 1, map).await?;
    Ok(rows.pop().map(|(_, item)| item))
}

pub async fn newest_page<T>(
    c: &impl GenericClient,
    select: &str,
    job: Option<&str>,
    before: Option<i64>,
    limit: usize,
    map: impl Fn(&Row) -> TxResult<(i64, T)>,
) -> TxResult<Page<T>> {
    let rows = newest_rows(c, select, job, before, limit + 1, map).await?;
    let keyed = rows
        .into_iter()
        .map(|(pos, item)| (PageKey::Before(pos), item))
        .collect();
    Ok(Page::from_rows(keyed, limit))
}
