//! Keyset pagination: a page ends at a key, the next page starts after it.
//! Keys are the backend's positions; `api/page_token.rs` makes them opaque.

/// Where the next page starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageKey {
    /// Records written before this position (newest-first lists).
    Before(i64),
    /// Records written after this position (oldest-first lists).
    After(i64),
    /// Snapshots ordered before (calculated_at, position), newest first.
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
    pub fn from_rows(mut rows: Vec<(PageKey, T)>, limit: usize) -> Page<T> {
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
