mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use learning_service::{
    config::ServeConfig,
    dashboard::{self, Dashboard},
    exposure,
    ops::{self, telemetry::LogFormat},
    server, store,
};

/// The exploration budget and automatic entropy response of the learning store, over gRPC.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Log filter (e.g. `info`, `debug`, `learning_service=debug`).
    #[arg(long, global = true, env = "LEARNING_LOG", default_value = "info")]
    log_level: String,

    /// `text` for people, `json` for log collectors (one object per line).
    #[arg(long, global = true, env = "LEARNING_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Parsed once at start-up: the size of the serve variant does not matter.
enum Command {
    /// Start the gRPC server.
    Serve(Box<ServeConfig>),
    /// Copy a SQLite store consistently while the service runs, and verify the copy.
    Backup(ops::BackupArgs),
    /// Check a SQLite store: integrity, schema, aggregates, sizes, row counts.
    Check(ops::CheckArgs),
    /// Copy a SQLite store into PostgreSQL (resumable, idempotent, counts verified).
    Migrate(ops::MigrateArgs),
    #[command(flatten)]
    Client(cli::ClientCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(config) => run_server(&cli.log_level, cli.log_format, *config),
        Command::Client(command) => {
            let _logs = ops::telemetry::init(&cli.log_level, cli.log_format, None);
            return cli::run(command);
        }
        Command::Backup(args) => return args.run(),
        Command::Check(args) => return args.run(),
        Command::Migrate(args) => {
            let _logs = ops::telemetry::init(&cli.log_level, cli.log_format, None);
            return args.run();
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_server(log_level: &str, log_format: LogFormat, config: ServeConfig) -> Result<(), String> {
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    // Inside the runtime: the span exporter's gRPC channel runs on it. Dropped
    // before the runtime, so the last spans are sent while it still runs.
    let _telemetry = {
        let _entered = runtime.enter();
        ops::telemetry::init(
            log_level,
            log_format,
            config.operating.otlp_endpoint.as_deref(),
        )?
    };
    let mut options = config.server_options()?;
    config.hardening.apply(&mut options)?;
    config.operating.apply(&mut options, &config.db)?;
    // Connections are bounded by --max-connections, not by a low soft limit.
    match learning_service::connections::raise_open_file_limit() {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
    }
    let dashboard_origins = config.dashboard.extra_origins()?;
    if options.metrics.is_some() {
        // Before the store opens, so that its start-up values are recorded.
        ops::metrics::install()?;
    }
    let grace = options.shutdown_grace;
    runtime.block_on(async {
        let store = store::open(&config.db, config.store_options())
            .await
            .map_err(|e| format!("cannot open {}: {e}", config.db))?;
        let dashboard = match config.dashboard.http_listen {
            Some(listen) => {
                Some(Dashboard::bind(listen, options.tls.is_some(), dashboard_origins).await?)
            }
            None => None,
        };
        options.grpc_web = dashboard.as_ref().map(Dashboard::grpc_web);
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let shutdown = shutdown_signal().map_err(|e| format!("cannot handle signals: {e}"))?;
        let page = config.dashboard_page(address.port(), options.auth.is_some());
        let shutdown = dashboard::start_beside(
            dashboard.map(|dashboard| (dashboard, page)),
            options.tls.clone(),
            shutdown,
        );
        exposure::warn(address, &options);
        tracing::info!(%address, db = %config.db, tls = options.tls.is_some(), "serving learning.v1");
        let served = server::serve(store.clone(), listener, options, shutdown).await;
        tracing::info!("stopped accepting requests; finishing queued writes");
        store.close(grace);
        served.map_err(|e| e.to_string())
    })
}

/// Registers SIGINT and SIGTERM handlers now (so a signal arriving right
/// after start-up is not fatal) and returns a future that completes on either.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutdown requested");
    })
}
