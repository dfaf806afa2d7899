//! Assembles the gRPC server: the three services, health, reflection.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::watch};
use tonic::transport::{Server, server::TcpIncoming};

use crate::{
    api::{BudgetApi, EntropyApi, PatternApi, oversized, subscription::Subscriptions},
    background::{Background, ResponderOptions, SamplerOptions},
    feed::Feeds,
    pb::{
        self, budget_service_server::BudgetServiceServer,
        entropy_service_server::EntropyServiceServer, pattern_service_server::PatternServiceServer,
    },
    store::{Store, StoreError},
};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("store: {0}")]
    Store(#[from] StoreError),
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
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_subscribers: 2048,
            stream_progress_interval: Duration::from_secs(10),
            sampler: None,
            responder: None,
        }
    }
}

/// Serves until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    store: Arc<Store>,
    listener: TcpListener,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let feeds = Feeds::start(store.clone()).await?;
    let _background = Background::start(store.clone(), options.sampler, options.responder);
    let (stop_streams, streams_stopping) = watch::channel(false);
    let subscriptions = Arc::new(Subscriptions::new(
        store.clone(),
        feeds,
        options.max_subscribers,
        options.stream_progress_interval,
        streams_stopping,
    ));
    // Streams never finish on their own: end them first, or the graceful
    // shutdown would wait for them forever.
    let shutdown = async move {
        shutdown.await;
        let _ = stop_streams.send(true);
    };
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<BudgetServiceServer<BudgetApi>>().await;
    health
        .set_serving::<EntropyServiceServer<EntropyApi>>()
        .await;
    health
        .set_serving::<PatternServiceServer<PatternApi>>()
        .await;

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // google.rpc error details, so tools can decode BadRequest violations.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
    };

    Server::builder()
        .trace_fn(|request| tracing::info_span!("grpc", path = %request.uri().path()))
        .layer(oversized::layer())
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(BudgetServiceServer::new(BudgetApi::new(
            store.clone(),
            subscriptions.clone(),
        )))
        .add_service(EntropyServiceServer::new(EntropyApi::new(
            store.clone(),
            subscriptions,
        )))
        .add_service(PatternServiceServer::new(PatternApi::new(store)))
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await?;
    Ok(())
}
