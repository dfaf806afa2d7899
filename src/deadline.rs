//! The server's ceiling on how long a call may take to answer.
//!
//! tonic already enforces the client's `grpc-timeout`. This layer adds the
//! server's own ceiling, with DEADLINE_EXCEEDED and a message naming the
//! limit (tonic's `Server::timeout` would answer a bare CANCELLED). It bounds
//! the future that produces the response head, so a server-streaming call is
//! bounded only until its stream starts, never while it streams.

use std::time::Duration;

use tonic::{Status, body::Body};
use tower::Service;

use crate::guard::{Answer, Guard, GuardLayer};

/// DEADLINE_EXCEEDED for a call that has not answered within the ceiling.
pub type DeadlineLayer = GuardLayer<Ceiling>;

impl DeadlineLayer {
    pub fn new(ceiling: Option<Duration>) -> Self {
        GuardLayer(Ceiling(ceiling.filter(|c| !c.is_zero())))
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Ceiling(Option<Duration>);

impl Guard for Ceiling {
    fn call<S, B>(&self, inner: &mut S, request: http::Request<B>) -> Answer<S::Error>
    where
        S: Service<http::Request<B>, Response = http::Response<Body>>,
        S::Future: Send + 'static,
        S::Error: Send + 'static,
    {
        let Some(ceiling) = self.0 else {
            return Box::pin(inner.call(request));
        };
        let path = request.uri().path().to_owned();
        let answer = inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout(ceiling, answer).await {
                Ok(answer) => answer,
                Err(_) => {
                    tracing::warn!(%path, ?ceiling, "a call exceeded the server's time limit");
                    // Dropping the handler does not undo a write it already queued.
                    Ok(Status::deadline_exceeded(format!(
                        "the call did not finish within the server's limit of {} \
                         (--request-timeout-max); a write it made may still be committed",
                        humantime::format_duration(ceiling)
                    ))
                    .into_http())
                }
            }
        })
    }
}
