mod cli;

use std::{io::IsTerminal, process::ExitCode, sync::Arc};

use clap::{Parser, Subcommand};
use learning_service::{config::ServeConfig, exposure, server, store::Store};
use tracing_subscriber::EnvFilter;

/// The exploration budget and automatic entropy response of the learning store, over gRPC.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Log filter (e.g. `info`, `debug`, `learning_service=debug`).
    #[arg(long, global = true, env = "LEARNING_LOG", default_value = "info")]
    log_level: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Parsed once at start-up: the size of the serve variant does not matter.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Start the gRPC server.
    Serve(ServeConfig),
    #[command(flatten)]
    Client(cli::ClientCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_new(&cli.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Serve(config) => run_server(config),
        Command::Client(command) => return cli::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_server(config: ServeConfig) -> Result<(), String> {
    let mut options = config.server_options()?;
    config.hardening.apply(&mut options)?;
    // Connections are bounded by --max-connections, not by a low soft limit.
    match learning_service::connections::raise_open_file_limit() {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
    }
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    let store = Store::open(&config.db, config.store_options())
        .map_err(|e| format!("cannot open {}: {e}", config.db.display()))?;
    let store = Arc::new(store);
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let shutdown = shutdown_signal().map_err(|e| format!("cannot handle signals: {e}"))?;
        exposure::warn(address, &options);
        tracing::info!(%address, db = %config.db.display(), tls = options.tls.is_some(), "serving learning.v1");
        let served = server::serve(store.clone(), listener, options, shutdown).await;
        tracing::info!("stopped accepting requests; finishing queued writes");
        store.close();
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
