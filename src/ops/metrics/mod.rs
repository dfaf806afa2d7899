//! Prometheus metrics: the `grpc_server_*` family of go-grpc-prometheus
//! (a tower layer, [`grpc::GrpcMetricsLayer`]), the store's queues,
//! commits and files, stream subscribers, and the domain's latest values,
//! served on a listener of their own at `/metrics`.
//!
//! Built on the `metrics` facade: the store's writer and read threads call
//! its macros where things happen, without a registry handed down to them,
//! and they cost next to nothing while no recorder is installed (metrics
//! off). The Prometheus recorder renders the text format; its own HTTP
//! listener is not used (see [`http`]).

pub mod grpc;
pub mod http;
mod scrape;

use std::{net::SocketAddr, path::PathBuf, sync::OnceLock, time::Duration};

use metrics::{describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Most jobs whose budget may be exported (one series each).
pub const MAX_BUDGET_JOBS: usize = 100;

/// What `--metrics-listen` and `--metrics-budget-jobs` asked for.
#[derive(Clone, Debug)]
pub struct MetricsOptions {
    pub listen: SocketAddr,
    /// Jobs whose latest budget is exported, at most [`MAX_BUDGET_JOBS`].
    pub budget_jobs: Vec<String>,
    /// The SQLite file, for the database and WAL sizes (none for a server
    /// without a file).
    pub db: Option<PathBuf>,
}

pub const HANDLING_SECONDS: &str = "grpc_server_handling_seconds";
pub const COMMIT_SECONDS: &str = "learning_store_commit_duration_seconds";
pub const BATCH_SIZE: &str = "learning_store_write_batch_size";
pub const RETENTION_DELETED_ROWS: &str = "learning_retention_deleted_rows_total";

/// Latency buckets of a call: the service answers most calls in well under
/// a millisecond; streams last until the client leaves (they land in +Inf).
const HANDLING_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];
/// A commit is an fsync (milliseconds) or, with --durability normal, less.
const COMMIT_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// Operations per commit: up to the writer's 512.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// Installs the Prometheus recorder (once per process) and returns its handle.
pub fn install() -> Result<PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HANDLING_SECONDS.into()), HANDLING_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(COMMIT_SECONDS.into()), COMMIT_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(BATCH_SIZE.into()), BATCH_BUCKETS)
                })
                .map_err(|e| format!("metrics: {e}"))?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder)
                .map_err(|e| format!("metrics: cannot install the recorder: {e}"))?;
            describe();
            // At zero from the start, so that dashboards show them before the first call.
            for idle in [
                "learning_store_write_queue_depth",
                "learning_store_read_queue_depth",
                "learning_store_read_connections_in_use",
            ] {
                gauge!(idle).set(0.0);
            }
            gauge!(
                "learning_service_build_info",
                "version" => env!("CARGO_PKG_VERSION"),
                "backend" => "sqlite"
            )
            .set(1.0);
            Ok(handle)
        })
        .clone()
}

/// Histograms keep their samples until a scrape drains them; without
/// scrapes, this drains them now and then so memory stays bounded.
pub fn spawn_upkeep(handle: PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(5));
        loop {
            ticker.tick().await;
            handle.run_upkeep();
        }
    })
}

fn describe() {
    describe_counter!("grpc_server_started_total", "RPCs started on the server.");
    describe_counter!(
        "grpc_server_handled_total",
        "RPCs completed on the server, by status code (from the trailers)."
    );
    describe_histogram!(
        HANDLING_SECONDS,
        metrics::Unit::Seconds,
        "Time from a call's start to its last frame (a stream's end)."
    );
    describe_counter!(
        "grpc_server_msg_sent_total",
        "gRPC messages sent by the server."
    );
    describe_gauge!(
        "learning_stream_subscribers",
        "Open server streams (Watch/Subscribe), by method."
    );
    describe_counter!(
        crate::feed::ENCODED_METRIC,
        "Stream messages converted and encoded, once per record for all its subscribers (by table)."
    );
    describe_histogram!(BATCH_SIZE, "Write operations committed together.");
    describe_histogram!(
        COMMIT_SECONDS,
        metrics::Unit::Seconds,
        "Time of one group commit (its fsync included)."
    );
    describe_gauge!(
        "learning_store_write_queue_depth",
        "Writes queued for the writer thread."
    );
    describe_gauge!(
        "learning_store_read_queue_depth",
        "Reads queued for the read threads."
    );
    describe_gauge!(
        "learning_store_read_connections",
        "Connections of the read pool."
    );
    describe_gauge!(
        "learning_store_read_connections_in_use",
        "Read connections running a read."
    );
    describe_gauge!(
        "learning_store_database_bytes",
        metrics::Unit::Bytes,
        "Size of the database file."
    );
    describe_gauge!(
        "learning_store_wal_bytes",
        metrics::Unit::Bytes,
        "Size of the write-ahead log."
    );
    describe_gauge!(
        "learning_entropy_diversity_index",
        "Diversity index of the newest recorded entropy snapshot."
    );
    describe_gauge!(
        "learning_entropy_responses_recorded",
        "Entropy responses in the store (all jobs, any writer)."
    );
    describe_gauge!(
        "learning_budget_current",
        "Latest exploration budget of each job named by --metrics-budget-jobs."
    );
    describe_counter!(
        RETENTION_DELETED_ROWS,
        "History rows deleted by retention, by history (budget, responses, snapshots)."
    );
    describe_gauge!(
        "learning_service_build_info",
        "Always 1; the labels say which build runs."
    );
}

/// The running endpoint; dropping it stops it.
pub struct MetricsEndpoint {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    upkeep: tokio::task::JoinHandle<()>,
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.upkeep.abort();
    }
}

/// Installs the recorder (if [`install`] was not called yet: call it before
/// the store opens, so that the store's start-up values are recorded) and
/// serves `/metrics` on `options.listen`.
pub async fn start(
    options: &MetricsOptions,
    store: std::sync::Arc<dyn crate::store::Store>,
) -> Result<MetricsEndpoint, String> {
    let handle = install()?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {} (--metrics-listen): {e}",
                options.listen
            )
        })?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let upkeep = spawn_upkeep(handle.clone());
    let options = options.clone();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(error) = http::serve(listener, handle, store, &options, shutdown).await {
            tracing::error!(%error, "the metrics endpoint stopped");
        }
    });
    tracing::info!(metrics_address = %address, "serving Prometheus metrics at /metrics");
    Ok(MetricsEndpoint {
        stop: Some(stop),
        upkeep,
    })
}
