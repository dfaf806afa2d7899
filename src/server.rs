//! Assembles the gRPC server: the three services, health, reflection,
//! and the security and limit layers.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::watch};
use tonic::{
    server::NamedService,
    transport::{Server, server::TcpIncoming},
};

use crate::{
    api::{BudgetApi, EntropyApi, PatternApi, subscription::Subscriptions},
    auth::{AuthLayer, BearerTokens},
    background::{Background, ResponderOptions, RetentionOptions, SamplerOptions},
    call_limit::CallLimitLayer,
    connections::{self, Admission},
    dashboard::grpc_web::{self, GrpcWebOptions},
    deadline::DeadlineLayer,
    feed::Feeds,
    health::HealthMonitor,
    limits::{Limits, limit_messages},
    ops::{
        metrics::{MetricsOptions, grpc::GrpcMetricsLayer},
        request_span::RequestSpanLayer,
    },
    pb::{
        self, budget_service_server::BudgetServiceServer,
        entropy_service_server::EntropyServiceServer, pattern_service_server::PatternServiceServer,
    },
    request_body::RequestBodyLayer,
    shutdown,
    store::{Store, StoreError},
    tls::TlsSettings,
};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Metrics(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Settings of the gRPC server (the store has its own).
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Concurrent Watch/Subscribe streams; beyond it, RESOURCE_EXHAUSTED.
    pub max_subscribers: usize,
    /// A quiet stream sends a progress message this often.
    pub stream_progress_interval: Duration,
    /// The entropy sampler loop, when on.
    pub sampler: Option<SamplerOptions>,
    /// The automatic entropy responder loop, when on.
    pub responder: Option<ResponderOptions>,
    /// The history retention loop, when on.
    pub retention: Option<RetentionOptions>,
    /// `None`: plaintext.
    pub tls: Option<TlsSettings>,
    /// When set, every service but grpc.health.v1 needs one of these tokens.
    pub auth: Option<BearerTokens>,
    pub limits: Limits,
    /// How often the store is probed for grpc.health.v1; zero: never.
    pub health_check_interval: Duration,
    /// After a shutdown signal, how long open calls and connections may take
    /// to finish before the server stops waiting for them.
    pub shutdown_grace: Duration,
    /// gRPC-Web (over HTTP/1.1 too) for the dashboard's origins; `None`: gRPC only.
    pub grpc_web: Option<GrpcWebOptions>,
    /// Prometheus metrics on a listener of their own; `None`: off.
    pub metrics: Option<MetricsOptions>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_subscribers: 2048,
            stream_progress_interval: Duration::from_secs(10),
            sampler: None,
            responder: None,
            retention: None,
            tls: None,
            auth: None,
            limits: Limits::default(),
            health_check_interval: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(20),
            grpc_web: None,
            metrics: None,
        }
    }
}

/// Serves until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    store: Arc<dyn Store>,
    listener: TcpListener,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let metrics_endpoint = match &options.metrics {
        Some(metrics) => Some(
            crate::ops::metrics::start(metrics, store.clone())
                .await
                .map_err(ServeError::Metrics)?,
        ),
        None => None,
    };
    let grpc_metrics = match metrics_endpoint {
        Some(_) => GrpcMetricsLayer::on(),
        None => GrpcMetricsLayer::off(),
    };
    let feeds = Feeds::start(store.clone()).await?;
    let _background = Background::start(
        store.clone(),
        options.sampler.clone(),
        options.responder.clone(),
        options.retention,
    );
    let (stop_streams, streams_stopping) = watch::channel(false);
    let subscriptions = Arc::new(Subscriptions::new(
        store.clone(),
        feeds,
        options.max_subscribers,
        options.stream_progress_interval,
        streams_stopping,
    ));
    let (health, health_service) = tonic_health::server::health_reporter();
    let services = vec![
        BudgetServiceServer::<BudgetApi>::NAME,
        EntropyServiceServer::<EntropyApi>::NAME,
        PatternServiceServer::<PatternApi>::NAME,
    ];
    let monitor = HealthMonitor::start(
        store.clone(),
        health,
        services,
        options.health_check_interval,
    )
    .await;
    // Streams never finish on their own: end them first, or the graceful
    // shutdown would wait for them until the grace period runs out.
    let shutdown = async move {
        shutdown.await;
        let _ = stop_streams.send(true);
        monitor.stop().await;
    };
    let (shutdown, give_up) = shutdown::with_grace(shutdown, options.shutdown_grace);
    let limits = &options.limits;

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // google.rpc error details, so tools can decode BadRequest violations.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
    };

    let mut builder = Server::builder();
    if let Some(tls) = &options.tls {
        builder = builder
            .tls_config(tls.server_config())
            .map_err(|e| ServeError::Tls(crate::tls::error_chain(&e)))?;
    }
    let incoming = Admission::new(
        TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .with_keepalive(limits.http2_keepalive_interval),
        connections::usable_connections(limits.max_connections),
        limits.handshake_timeout,
    );
    let serving = builder
        .max_concurrent_streams(limits.max_concurrent_streams)
        .accept_http1(options.grpc_web.is_some())
        .http2_keepalive_interval(limits.http2_keepalive_interval)
        .http2_keepalive_timeout(Some(limits.http2_keepalive_timeout))
        // Outermost, so that they see the status every other layer answers.
        .layer(RequestSpanLayer::every_call())
        .layer(grpc_metrics)
        .layer(grpc_web::layer(options.grpc_web.as_ref()))
        .layer(CallLimitLayer::new(limits.max_calls))
        .layer(RequestBodyLayer::new(
            limits.max_message_bytes,
            limits.request_receive_timeout,
        ))
        .layer(AuthLayer::new(options.auth.clone()))
        .layer(DeadlineLayer::new(limits.request_timeout_max))
        .add_service(limit_messages!(health_service, limits))
        .add_service(limit_messages!(reflection().build_v1()?, limits))
        .add_service(limit_messages!(reflection().build_v1alpha()?, limits))
        .add_service(limit_messages!(
            BudgetServiceServer::new(BudgetApi::new(store.clone(), subscriptions.clone())),
            limits
        ))
        .add_service(limit_messages!(
            EntropyServiceServer::new(EntropyApi::new(store.clone(), subscriptions)),
            limits
        ))
        .add_service(limit_messages!(
            PatternServiceServer::new(PatternApi::new(store)),
            limits
        ))
        .serve_with_incoming_shutdown(incoming, shutdown);
    tokio::select! {
        served = serving => served?,
        () = give_up => tracing::warn!(
            grace = ?options.shutdown_grace,
            "calls or connections still open after the shutdown grace period; stopping anyway"
        ),
    }
    Ok(())
}
