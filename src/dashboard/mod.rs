//! The dashboard: a page served on its own listener (`--http-listen`) that
//! reads the API through gRPC-Web on the gRPC listener ([`grpc_web`]).
//!
//! The HTTP listener serves only static files and `/config.json`, which
//! tells the page where the API is and what the server's thresholds are.
//! Nothing on it reads the store: every number on the page comes from the
//! API, with the same token as any other client.

mod assets;
pub mod grpc_web;
pub mod origins;

use std::{future::Future, net::SocketAddr};

use axum::{
    Router,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use tokio::{net::TcpListener, sync::oneshot};
use tonic::transport::{Server, server::TcpIncoming};

use crate::tls::TlsSettings;

/// What the page is told about the server that serves it.
#[derive(Clone, Debug)]
pub struct PageSettings {
    /// The port of the gRPC listener. The page calls it on the host name it
    /// was loaded from, over https when the page came over https.
    pub grpc_port: u16,
    /// Diversity below this is drawn as an alert (--entropy-alert-threshold).
    pub alert_threshold: f64,
    /// The band drawn behind each budget (--auto-respond-floor and -ceiling):
    /// budget records do not carry the floor and ceiling they were clamped to.
    pub budget_floor: f64,
    pub budget_ceiling: f64,
    /// Whether calls need a bearer token, so the page asks for one first.
    pub auth_required: bool,
}

impl PageSettings {
    fn json(&self) -> serde_json::Value {
        json!({
            "grpcPort": self.grpc_port,
            "alertThreshold": self.alert_threshold,
            "budgetFloor": self.budget_floor,
            "budgetCeiling": self.budget_ceiling,
            "authRequired": self.auth_required,
            "version": env!("CARGO_PKG_VERSION"),
        })
    }
}

/// The dashboard's listener, bound before the gRPC server starts so that the
/// origins allowed by gRPC-Web name its real port.
pub struct Dashboard {
    listener: TcpListener,
    address: SocketAddr,
    origins: Vec<String>,
}

impl Dashboard {
    /// Binds `listen`; `extra_origins` are the checked `--dashboard-origin` values.
    pub async fn bind(
        listen: SocketAddr,
        tls: bool,
        extra_origins: Vec<String>,
    ) -> Result<Self, String> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen} (--http-listen): {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        if address.ip().is_unspecified() && extra_origins.is_empty() {
            tracing::warn!(
                %address,
                "the dashboard listens on every address, but gRPC-Web is allowed only from the \
                 loopback origins: add --dashboard-origin for the host name browsers use"
            );
        }
        let mut allowed = origins::derived(address, tls);
        for origin in extra_origins {
            if !allowed.contains(&origin) {
                allowed.push(origin);
            }
        }
        Ok(Self {
            listener,
            address,
            origins: allowed,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The gRPC-Web settings of the gRPC listener for this dashboard.
    pub fn grpc_web(&self) -> grpc_web::GrpcWebOptions {
        grpc_web::GrpcWebOptions {
            allowed_origins: self.origins.clone(),
        }
    }

    /// Serves the page until `shutdown` completes: https with `tls` (the
    /// gRPC listener's certificate), http otherwise.
    pub async fn serve(
        self,
        page: PageSettings,
        tls: Option<&TlsSettings>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        tracing::info!(
            address = %self.address,
            origins = ?self.origins,
            "serving the dashboard"
        );
        // tonic's server, although nothing here is gRPC: it has the TLS
        // acceptor (rustls, handshake timeout, client certificates) and the
        // graceful shutdown the gRPC listener already uses.
        let mut builder = Server::builder().accept_http1(true);
        if let Some(tls) = tls {
            builder = builder.tls_config(tls.server_config())?;
        }
        builder
            .serve_with_incoming_shutdown(
                router(page),
                TcpIncoming::from(self.listener).with_nodelay(Some(true)),
                shutdown,
            )
            .await
    }
}

fn router(page: PageSettings) -> Router {
    let config = page.json().to_string();
    let router = Router::new().route(
        "/config.json",
        get(move || {
            let config = config.clone();
            async move { config_response(config) }
        }),
    );
    assets::routes(router).fallback(assets::not_found)
}

fn config_response(config: String) -> Response {
    assets::with_common_headers(
        ([(header::CONTENT_TYPE, "application/json")], config).into_response(),
    )
}

/// Starts `dashboard` (when there is one) beside the gRPC server, and returns
/// the shutdown future to hand to the gRPC server: when `shutdown` completes,
/// the dashboard stops accepting connections too.
pub fn start_beside(
    dashboard: Option<(Dashboard, PageSettings)>,
    tls: Option<TlsSettings>,
    shutdown: impl Future<Output = ()> + Send,
) -> impl Future<Output = ()> + Send {
    let (stop, stopped) = oneshot::channel::<()>();
    if let Some((dashboard, page)) = dashboard {
        tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            if let Err(error) = dashboard.serve(page, tls.as_ref(), stopped).await {
                tracing::error!(
                    error = %crate::tls::error_chain(&error),
                    "the dashboard stopped"
                );
            }
        });
    }
    async move {
        shutdown.await;
        drop(stop);
    }
}
