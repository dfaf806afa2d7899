//! The client of the crash test (scripts/crash-test.sh).
//!
//! `load`: many callers send a mixed write load. Each call carries a fresh
//! request_id and is retried with it until acknowledged, however often the
//! server dies meanwhile; every acknowledged record is appended to a log.
//! Some acknowledged calls are sent again (the first response must come
//! back) or sent with their id and another payload (must be refused).
//!
//! `verify`: checks a database (a SQLite file or a PostgreSQL URL) against that log: integrity, every
//! acknowledged record present once, and no record that was not acknowledged
//! (so no retry wrote twice).

mod database;
mod load;
mod verify;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send the write load until the stop file exists.
    Load(LoadArgs),
    /// Check a database file against the log of acknowledged records.
    Verify(VerifyArgs),
}

#[derive(Args)]
pub struct LoadArgs {
    /// Server address, e.g. 127.0.0.1:50051.
    #[arg(long)]
    pub addr: String,
    /// Acknowledged records are appended here, one per line.
    #[arg(long)]
    pub log: PathBuf,
    /// The load stops (after finishing the calls in flight) once this exists.
    #[arg(long)]
    pub stop_file: PathBuf,
    #[arg(long, default_value_t = 16)]
    pub callers: usize,
    /// Seeds the choice of calls; also part of every request_id.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A call not acknowledged after this long fails the test.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub give_up_after: Duration,
}

#[derive(Args)]
pub struct VerifyArgs {
    #[arg(long)]
    pub db: PathBuf,
    #[arg(long)]
    pub log: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Load(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| vec![format!("cannot start the runtime: {e}")])
            .and_then(|runtime| runtime.block_on(load::run(args))),
        Command::Verify(args) => verify::run(&args),
    };
    match outcome {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for problem in &problems {
                eprintln!("FAIL: {problem}");
            }
            eprintln!("{} problem(s)", problems.len());
            ExitCode::FAILURE
        }
    }
}
