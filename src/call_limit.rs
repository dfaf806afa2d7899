//! A bound on the calls in progress across all connections, streams
//! included. Each call holds a slot from its arrival until its answer's body
//! is done (for a stream, until the stream ends). Beyond the bound, a call is
//! answered RESOURCE_EXHAUSTED at once, before anything of it is read, so idle
//! streams opened by the thousand cost a refusal each and no memory.
//!
//! grpc.health.v1 has a few slots of its own on top, so that probes are
//! still answered while the other calls are at the bound.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::{Status, body::Body};
use tower::{Layer, Service};

/// Slots only health checks may use, beyond the bound.
pub const HEALTH_RESERVE: usize = 64;
const HEALTH_PATH: &str = "/grpc.health.v1.Health/";

#[derive(Clone, Debug)]
pub struct CallLimitLayer {
    max_calls: usize,
    calls: Arc<Semaphore>,
    health: Arc<Semaphore>,
}

impl CallLimitLayer {
    pub fn new(max_calls: usize) -> Self {
        Self {
            max_calls,
            calls: Arc::new(Semaphore::new(max_calls)),
            health: Arc::new(Semaphore::new(HEALTH_RESERVE)),
        }
    }

    /// A slot for a call to `path`, if one is free.
    fn admit(&self, path: &str) -> Option<OwnedSemaphorePermit> {
        self.calls.clone().try_acquire_owned().ok().or_else(|| {
            path.starts_with(HEALTH_PATH)
                .then(|| self.health.clone().try_acquire_owned().ok())
                .flatten()
        })
    }
}

impl<S> Layer<S> for CallLimitLayer {
    type Service = CallLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallLimit {
            inner,
            limit: self.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct CallLimit<S> {
    inner: S,
    limit: CallLimitLayer,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> Service<Request<B>> for CallLimit<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let Some(slot) = self.limit.admit(request.uri().path()) else {
            tracing::debug!(path = %request.uri().path(), "refused a call: at --max-calls");
            let refusal = Status::resource_exhausted(format!(
                "the server has its maximum of {} calls in progress; retry later",
                self.limit.max_calls
            ));
            return Box::pin(async move { Ok(refusal.into_http()) });
        };
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            // The closure owns the slot: it is given back when the answer's
            // body is dropped (for a stream, when the stream ends).
            Ok(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _held = &slot;
                    frame
                }))
            }))
        })
    }
}
