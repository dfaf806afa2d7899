//! The look for commits of other replicas: every [`INTERVAL`] the counters of
//! the streamed tables are read; when one moved, the stream tails are woken.
//! Every [`RESET_EVERY`] polls they are woken anyway, so that they notice
//! rows deleted by other programs.

use std::{sync::Arc, time::Duration};

use deadpool_postgres::Pool;
use tokio::sync::watch;

use super::streams;
use crate::store::Wakeup;

/// At most this long between a commit on another replica and its readers here.
pub const INTERVAL: Duration = Duration::from_millis(200);
const RESET_EVERY: u64 = 25;

pub fn start(pool: Pool, wakeups: Arc<watch::Sender<Wakeup>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = Vec::new();
        for round in 1u64.. {
            ticks.tick().await;
            if pool.is_closed() {
                return;
            }
            let Ok(client) = pool.get().await else {
                continue;
            };
            let Ok(counters) = streams::counters(&client).await else {
                continue;
            };
            if counters != last || round % RESET_EVERY == 0 {
                last = counters;
                wakeups.send_modify(|w| w.polls += 1);
            }
        }
    })
}
