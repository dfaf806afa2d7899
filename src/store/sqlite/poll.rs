//! The look for writes of other programs: the original store (or any SQL)
//! may write the same file, and its commits wake nobody. A thread bumps the
//! `polls` of the wake-up signal every [`INTERVAL`], so stream tails read
//! new rows (and notice deleted ones) within that time.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;

use super::every::Every;
use crate::store::{StoreResult, Wakeup};

/// How often rows written by other programs are looked for.
pub const INTERVAL: Duration = Duration::from_millis(500);

/// Bumps `wakeups.polls` until dropped.
pub fn start(wakeups: Arc<watch::Sender<Wakeup>>) -> StoreResult<Every> {
    Every::start("sqlite-poll", INTERVAL, move || {
        wakeups.send_modify(|wakeup| wakeup.polls += 1)
    })
}
