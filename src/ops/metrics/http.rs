//! The `/metrics` endpoint on a listener of its own (not the gRPC port,
//! which may need TLS and tokens; Prometheus scrapes plain HTTP). Every
//! other path is 404. An axum route rather than the exporter's built-in
//! listener: axum is already in the build (tonic's router), and the
//! route can sample the store before it renders.

use std::{future::Future, sync::Arc};

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

use super::{MetricsOptions, scrape::Sampler};
use crate::store::Store;

/// The text exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Endpoint {
    handle: PrometheusHandle,
    sampler: Sampler,
}

/// Serves `/metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    store: Arc<dyn Store>,
    options: &MetricsOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let endpoint = Arc::new(Endpoint {
        handle,
        sampler: Sampler::new(store, options),
    });
    let app = Router::new()
        .route("/metrics", get(render))
        .with_state(endpoint);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn render(State(endpoint): State<Arc<Endpoint>>) -> impl IntoResponse {
    endpoint.sampler.sample().await;
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        endpoint.handle.render(),
    )
}
