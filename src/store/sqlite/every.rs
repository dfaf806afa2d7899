//! A thread that does one thing at an interval until it is dropped (the
//! checkpoints, the poll for other programs' writes).

use std::{
    sync::mpsc::{RecvTimeoutError, Sender, channel},
    thread::JoinHandle,
    time::Duration,
};

use crate::store::{StoreError, StoreResult};

/// Stops and joins its thread when dropped.
pub struct Every {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Every {
    /// Runs `tick` every `interval` on a thread called `name`.
    pub fn start(
        name: &str,
        interval: Duration,
        mut tick: impl FnMut() + Send + 'static,
    ) -> StoreResult<Self> {
        let (stop, stopped) = channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    tick();
                }
            })
            .map_err(|e| StoreError::internal(format!("cannot start the {name} thread: {e}")))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Every {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
