//! A gRPC front for a test server that the server itself does not have
//! (yet): TLS, mutual TLS and a bearer-token check. It forwards every call
//! of the learning services, streams included, to the real server, so the
//! CLI's TLS and token options are tested end to end against real answers.

use std::{
    convert::Infallible,
    marker::PhantomData,
    net::SocketAddr,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use tokio::net::TcpListener;
use tonic::{
    Status,
    body::Body,
    codegen::{BoxFuture, Service, http},
    server::NamedService,
    transport::{Channel, Server, ServerTlsConfig, server::TcpIncoming},
};

pub trait ServiceName: Send + Sync + 'static {
    const NAME: &'static str;
}

pub struct Budget;
impl ServiceName for Budget {
    const NAME: &'static str = "learning.v1.BudgetService";
}

pub struct Entropy;
impl ServiceName for Entropy {
    const NAME: &'static str = "learning.v1.EntropyService";
}

/// What the proxy saw: the `authorization` header of every call.
#[derive(Clone, Default)]
pub struct Seen(Arc<Mutex<Vec<Option<String>>>>);

impl Seen {
    pub fn headers(&self) -> Vec<Option<String>> {
        self.0.lock().expect("lock").clone()
    }
}

struct Forward<N> {
    channel: Channel,
    token: Option<&'static str>,
    seen: Seen,
    _name: PhantomData<fn() -> N>,
}

impl<N> Clone for Forward<N> {
    fn clone(&self) -> Self {
        Self {
            channel: self.channel.clone(),
            token: self.token,
            seen: self.seen.clone(),
            _name: PhantomData,
        }
    }
}

impl<N: ServiceName> NamedService for Forward<N> {
    const NAME: &'static str = N::NAME;
}

impl<N> Service<http::Request<Body>> for Forward<N> {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let header = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        self.seen.0.lock().expect("lock").push(header.clone());
        if let Some(token) = self.token
            && header.as_deref() != Some(format!("Bearer {token}").as_str())
        {
            let refused = Status::unauthenticated("missing or wrong bearer token").into_http();
            return Box::pin(async move { Ok(refused) });
        }
        let mut channel = self.channel.clone();
        Box::pin(async move {
            if let Err(e) = std::future::poll_fn(|cx| channel.poll_ready(cx)).await {
                return Ok(Status::unavailable(e.to_string()).into_http());
            }
            Ok(channel
                .call(request)
                .await
                .unwrap_or_else(|e| Status::unavailable(e.to_string()).into_http()))
        })
    }
}

/// Starts a front for `target` on 127.0.0.1; returns its address and what it saw.
pub async fn start(
    target: Channel,
    tls: Option<ServerTlsConfig>,
    token: Option<&'static str>,
) -> (SocketAddr, Seen) {
    let seen = Seen::default();
    let budget = Forward::<Budget> {
        channel: target.clone(),
        token,
        seen: seen.clone(),
        _name: PhantomData,
    };
    let entropy = Forward::<Entropy> {
        channel: target,
        token,
        seen: seen.clone(),
        _name: PhantomData,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).expect("TLS config");
    }
    let router = builder.add_service(budget).add_service(entropy);
    tokio::spawn(async move {
        let _ = router
            .serve_with_incoming(TcpIncoming::from(listener))
            .await;
    });
    (address, seen)
}
