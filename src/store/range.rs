//! One job's budget records in a time range, oldest first, read through the
//! ordinary newest-first history pages of [`Store::budget_history`]: every
//! backend has it without SQL of its own, and each page is a bounded read.

use chrono::{DateTime, Utc};

use super::{PageKey, Store, StoreResult};
use crate::domain::records::BudgetRecord;

/// Records per history page (the largest page the history RPC serves).
pub const RANGE_PAGE: usize = 1000;

/// How far a range read may go.
#[derive(Clone, Copy, Debug)]
pub struct RangeBounds {
    /// Records in the range.
    pub in_range: usize,
    /// Records read back from the newest, those after the range included.
    pub read: usize,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct BudgetRange {
    /// The value of the job's newest record before the range: the budget the
    /// first adjustment in the range started from. None without one.
    pub before: Option<f64>,
    /// Oldest first. Records whose time cannot be read are left out.
    pub records: Vec<BudgetRecord>,
}

/// Which bound a range read reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeExceeded {
    InRange,
    Read,
}

/// Walks the history newest first, skipping records after `until`, up to
/// the first record before `since` (write order is time order for the
/// records this service writes).
pub async fn budget_in_range(
    store: &dyn Store,
    job: &str,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    bounds: RangeBounds,
) -> StoreResult<Result<BudgetRange, RangeExceeded>> {
    let mut range = BudgetRange::default();
    let mut read = 0;
    let mut before = None;
    'pages: loop {
        let page = store
            .budget_history(Some(job.to_owned()), RANGE_PAGE, before)
            .await?;
        for record in page.items {
            read += 1;
            let Some(at) = record.recorded_at else {
                continue;
            };
            if until.is_some_and(|until| at > until) {
                continue;
            }
            if since.is_some_and(|since| at < since) {
                range.before = Some(record.budget_value);
                break 'pages;
            }
            if range.records.len() == bounds.in_range {
                return Ok(Err(RangeExceeded::InRange));
            }
            range.records.push(record);
        }
        match page.next {
            Some(_) if read >= bounds.read => return Ok(Err(RangeExceeded::Read)),
            Some(PageKey::Before(position)) => before = Some(position),
            _ => break,
        }
    }
    range.records.reverse();
    Ok(Ok(range))
}
