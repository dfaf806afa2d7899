//! The server's ceiling on how long a call may take to answer.
//!
//! tonic already enforces the client's `grpc-timeout`. This layer adds the
//! server's own ceiling, with DEADLINE_EXCEEDED and a message naming the
//! limit (tonic's `Server::timeout` would answer a bare CANCELLED). It bounds
//! the future that produces the response head, so a server-streaming call is
//! bounded only until its stream starts, never while it streams.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tonic::{Status, body::Body};
use tower::{Layer, Service};

#[derive(Clone, Copy, Debug, Default)]
pub struct DeadlineLayer {
    ceiling: Option<Duration>,
}

impl DeadlineLayer {
    pub fn new(ceiling: Option<Duration>) -> Self {
        Self {
            ceiling: ceiling.filter(|c| !c.is_zero()),
        }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline {
            inner,
            ceiling: self.ceiling,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Deadline<S> {
    inner: S,
    ceiling: Option<Duration>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> Service<http::Request<B>> for Deadline<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let Some(ceiling) = self.ceiling else {
            return Box::pin(self.inner.call(request));
        };
        let path = request.uri().path().to_owned();
        let answer = self.inner.call(request);
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
