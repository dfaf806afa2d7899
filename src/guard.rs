//! One shape for the layers that decide per call before the service runs:
//! answer at once (a refused token), or call the service and perhaps bound
//! its answer (the time ceiling). A [`Guard`] holds the decision; the layer
//! and service around it are written once here.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use tonic::body::Body;
use tower::{Layer, Service};

/// The boxed answer of a guarded call.
pub type Answer<E> = Pin<Box<dyn Future<Output = Result<http::Response<Body>, E>> + Send>>;

/// Decides one call: `inner` is the guarded service, ready to be called.
pub trait Guard: Clone {
    fn call<S, B>(&self, inner: &mut S, request: http::Request<B>) -> Answer<S::Error>
    where
        S: Service<http::Request<B>, Response = http::Response<Body>>,
        S::Future: Send + 'static,
        S::Error: Send + 'static;
}

/// Puts `G` in front of a service.
#[derive(Clone, Copy, Debug, Default)]
pub struct GuardLayer<G>(pub G);

impl<S, G: Guard> Layer<S> for GuardLayer<G> {
    type Service = Guarded<S, G>;

    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            inner,
            guard: self.0.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Guarded<S, G> {
    inner: S,
    guard: G,
}

impl<S, B, G> Service<http::Request<B>> for Guarded<S, G>
where
    S: Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    G: Guard,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Answer<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.guard.call(&mut self.inner, request)
    }
}
