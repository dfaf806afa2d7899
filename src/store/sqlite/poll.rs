//! The look for writes of other programs: the original store (or any SQL)
//! may write the same file, and its commits wake nobody. A thread bumps the
//! `polls` of the wake-up signal every [`INTERVAL`], so stream tails read
//! new rows (and notice deleted ones) within that time.

use std::{
    sync::{
        Arc,
        mpsc::{RecvTimeoutError, Sender, channel},
    },
    thread::JoinHandle,
    time::Duration,
};

use tokio::sync::watch;

use crate::store::{StoreError, StoreResult, Wakeup};

/// How often rows written by other programs are looked for.
pub const INTERVAL: Duration = Duration::from_millis(500);

/// Stops its thread when dropped.
pub struct Poller {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Poller {
    pub fn start(wakeups: Arc<watch::Sender<Wakeup>>) -> StoreResult<Self> {
        let (stop, stopped) = channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-poll".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    wakeups.send_modify(|wakeup| wakeup.polls += 1);
                }
            })
            .map_err(|e| StoreError::internal(format!("cannot start the poll thread: {e}")))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
