//! One tower layer for everything that watches calls (metrics, spans): it
//! asks its [`CallHooks`] for an observer when a call starts, runs the
//! handler in the hooks' span, and hands the observer to the response's
//! [`ObservedBody`], which tells it how the call ended.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::HeaderMap;
use tower::{Layer, Service};
use tracing::{Instrument, Span};

use super::call_end::{CallObserver, ObservedBody, Pending};

/// What a watcher of calls does at their start and when their head goes out.
pub trait CallHooks: Clone + Send + Sync + 'static {
    type Observer: CallObserver;

    /// The observer of a new call and the span its handler runs in (often
    /// `Span::none()`); `None`: this call is not observed.
    fn start<B>(&self, request: &http::Request<B>) -> Option<(Self::Observer, Span)>;

    /// The response's headers are ready, before any message.
    fn head(&self, _observer: &mut Self::Observer, _headers: &HeaderMap) {}
}

#[derive(Clone, Debug)]
pub struct ObserveLayer<H> {
    hooks: H,
}

impl<H> ObserveLayer<H> {
    pub fn new(hooks: H) -> Self {
        Self { hooks }
    }
}

impl<S, H: Clone> Layer<S> for ObserveLayer<H> {
    type Service = Observe<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            hooks: self.hooks.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Observe<S, H> {
    inner: S,
    hooks: H,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, H, B, ResBody> Service<http::Request<B>> for Observe<S, H>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    H: CallHooks,
{
    type Response = http::Response<ObservedBody<ResBody, H::Observer>>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let Some((observer, span)) = self.hooks.start(&request) else {
            let answer = self.inner.call(request);
            return Box::pin(async move { Ok(answer.await?.map(ObservedBody::unobserved)) });
        };
        let pending = Pending::new(observer);
        let answer = self.inner.call(request).instrument(span);
        let hooks = self.hooks.clone();
        Box::pin(async move {
            let response = answer.await?;
            let mut observer = pending.answered();
            if let Some(observer) = observer.as_mut() {
                hooks.head(observer, response.headers());
            }
            let (parts, body) = response.into_parts();
            let body = ObservedBody::new(body, &parts.headers, observer);
            Ok(http::Response::from_parts(parts, body))
        })
    }
}
