//! The operator's command line: `budget`, `entropy` and `responses` talk to
//! a running server over gRPC, and print tables for people or JSON for
//! scripts. They are the views of the original's `mzt patterns-budget`,
//! `mzt patterns-entropy` and `mzt entropy-status`.

mod budget;
mod connect;
mod diversity;
mod entropy;
mod explain;
mod failure;
mod health;
mod json;
mod render;
mod replay;
mod responses;
mod sparkline;
mod tls;
mod token;
mod watch;

use std::process::ExitCode;

pub use connect::ConnectOptions;
use failure::Failure;

#[derive(clap::Subcommand)]
pub enum ClientCommand {
    /// Exploration budget: the current value and statistics, or --history.
    Budget(budget::BudgetArgs),
    /// Pattern entropy: current metrics (--record to keep them), --history,
    /// or --watch live snapshots.
    Entropy(entropy::EntropyArgs),
    /// Automatic entropy responses: statistics and the last one, --history,
    /// or a --check dry run.
    Responses(responses::ResponsesArgs),
    /// Health check: exits 0 only when the server answers SERVING (for
    /// container health checks).
    Health(health::HealthArgs),
    /// Policy replay: what other budget policies would have done with a
    /// job's recorded entropy readings (a table with sparklines, or --json).
    Replay(Box<replay::ReplayArgs>),
}

/// The server refuses more than 1000; a larger number is passed on so that
/// its INVALID_ARGUMENT names the field, rather than being cut here.
pub fn page_limit(rows: u32) -> i32 {
    i32::try_from(rows).unwrap_or(i32::MAX)
}

/// Runs a client command: exit code 0, or 1 with `error: ...` on stderr.
pub fn run(command: ClientCommand) -> ExitCode {
    // One call at a time: a single thread is plenty and starts fastest.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            ClientCommand::Budget(args) => budget::run(args).await,
            ClientCommand::Entropy(args) => entropy::run(args).await,
            ClientCommand::Responses(args) => responses::run(args).await,
            ClientCommand::Health(args) => health::run(args).await,
            ClientCommand::Replay(args) => replay::run(*args).await,
        }
    });
    match result {
        Ok(()) | Err(Failure::OutputClosed) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_beyond_i32_reach_the_server_as_too_large() {
        assert_eq!(page_limit(20), 20);
        assert_eq!(page_limit(u32::MAX), i32::MAX);
    }
}
