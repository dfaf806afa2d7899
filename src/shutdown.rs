//! A deadline on graceful shutdown. tonic waits for every connection to
//! finish its calls and close, which can take forever: a client that stops
//! reading (or never acknowledges the server's GOAWAY ping) keeps its
//! connection open. After the grace period the server stops waiting; the
//! store is still closed afterwards, so queued writes are committed.

use std::{future::Future, time::Duration};

use tokio::sync::oneshot;

/// Returns the future to hand to tonic (completes with `signal`) and one that
/// completes `grace` after it. If `signal` never completes, neither does the deadline.
pub fn with_grace(
    signal: impl Future<Output = ()>,
    grace: Duration,
) -> (impl Future<Output = ()>, impl Future<Output = ()>) {
    let (signalled, on_signal) = oneshot::channel::<()>();
    let shutdown = async move {
        signal.await;
        let _ = signalled.send(());
    };
    let deadline = async move {
        if on_signal.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    (shutdown, deadline)
}
