//! What history the store keeps (off by default): the contract's terms,
//! applied by a background task in small batches.

use chrono::{DateTime, Utc};

/// Which history rows may go. Never: a job's latest budget, nor a job's
/// last entropy response (its cooldown is measured from it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Budget records, responses and snapshots recorded before this.
    pub before: Option<DateTime<Utc>>,
    /// Budget records beyond the newest this many of each job (at least 1).
    pub budget_rows_per_job: Option<u64>,
}

impl Retention {
    pub fn is_off(&self) -> bool {
        self.before.is_none() && self.budget_rows_per_job.is_none()
    }
}

/// Rows one prune deleted, per history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub budget: u64,
    pub responses: u64,
    pub snapshots: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.budget + self.responses + self.snapshots
    }
}
