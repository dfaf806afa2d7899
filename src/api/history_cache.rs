//! Encoded pages of GetExplorationBudgetHistory, kept with the version of
//! the job's records they were read at (see `Store::budget_history_since`).
//! A call names the version it holds; the store answers Unchanged after one
//! point read of the version, in the same read transaction that would read
//! the page, and the kept bytes are sent as they are. Reading 51 rows,
//! decoding their explanations, converting and encoding them was most of a
//! page's cost. Exact for writes of other programs because the version is
//! kept by the database's triggers, not by this process.

use std::sync::Mutex;

use bytes::Bytes;
use hashlink::LruCache;
use tonic::Status;

use super::{convert, history_response::GetExplorationBudgetHistoryResponse, page_token};
use crate::store::{Store, StoreError, Version, Versioned};

/// Pages kept at most, and the largest kept page: at most 8 MiB in all. A
/// page of 50 records with explanations encodes to about 15 KiB.
const PAGES: usize = 256;
const MAX_PAGE_BYTES: usize = 32 * 1024;

/// One page of one list: what a request asks for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageQuery {
    pub job: Option<String>,
    pub limit: usize,
    pub before: Option<i64>,
}

pub struct HistoryCache {
    pages: Mutex<LruCache<PageQuery, (Version, Bytes)>>,
}

impl Default for HistoryCache {
    fn default() -> Self {
        Self {
            pages: Mutex::new(LruCache::new(PAGES)),
        }
    }
}

impl HistoryCache {
    /// The page of `query`: the kept bytes while the job's records keep their
    /// version, else read, encoded and kept.
    pub async fn page(
        &self,
        store: &dyn Store,
        query: PageQuery,
    ) -> Result<GetExplorationBudgetHistoryResponse, Status> {
        let kept = self.kept(&query);
        let known = kept.as_ref().map(|(version, _)| *version);
        let read = store
            .budget_history_since(query.job.clone(), query.limit, query.before, known)
            .await?;
        let (page, version) = match (read, kept) {
            (Versioned::Unchanged, Some((_, body))) => {
                return Ok(GetExplorationBudgetHistoryResponse::encoded(body));
            }
            (Versioned::Unchanged, None) => {
                return Err(
                    StoreError::internal("a store answered Unchanged to no version").into(),
                );
            }
            (Versioned::Read { value, version }, _) => (value, version),
        };
        page_token::refuse_pruned(query.before, &page)?;
        let response = GetExplorationBudgetHistoryResponse::new(
            page.items.into_iter().map(convert::budget_record).collect(),
            page_token::encode(page.next),
        );
        let Some(version) = version else {
            return Ok(response);
        };
        let body = response.to_bytes();
        self.keep(query, version, body.clone());
        Ok(GetExplorationBudgetHistoryResponse::encoded(body))
    }

    fn kept(&self, query: &PageQuery) -> Option<(Version, Bytes)> {
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        pages.get(query).cloned()
    }

    fn keep(&self, query: PageQuery, version: Version, body: Bytes) {
        if body.len() > MAX_PAGE_BYTES {
            return;
        }
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        // Reads finish in any order: never replace a newer page with an older one.
        if pages.peek(&query).is_none_or(|(kept, _)| *kept < version) {
            pages.insert(query, (version, body));
        }
    }
}
