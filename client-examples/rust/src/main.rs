//! `cargo run`: the learning.v1 story against a live learning-service, every answer checked.
//!
//! Server address: `--server ADDR`, else $LEARNING_SERVER, else 127.0.0.1:50051. Exits 1 with a
//! `FAIL:` line on the first answer that differs from the contract. Exact entropy values are
//! checked only when the server starts with no patterns (run-all.sh gives each example a fresh
//! database).

mod checks;
mod story;

use std::process::ExitCode;

const DEFAULT_ADDRESS: &str = "127.0.0.1:50051";

fn address() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next(), args.next()) {
        (None, _, _) => {
            Ok(std::env::var("LEARNING_SERVER").unwrap_or_else(|_| DEFAULT_ADDRESS.to_owned()))
        }
        (Some("--server"), Some(address), None) => Ok(address),
        _ => Err(
            "usage: learning-client-story [--server HOST:PORT]  (default $LEARNING_SERVER, then 127.0.0.1:50051)"
                .into(),
        ),
    }
}

/// "transport error: tcp connect error: Connection refused", not only "transport error".
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut cause = err.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if parts.last() != Some(&part) {
            parts.push(part);
        }
        cause = c.source();
    }
    parts.join(": ")
}

#[tokio::main]
async fn main() -> ExitCode {
    let address = match address() {
        Ok(address) => address,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let channel = match learning_client::connect(&address).await {
        Ok(channel) => channel,
        Err(err) => {
            eprintln!(
                "FAIL: no gRPC server at {address} (set LEARNING_SERVER): {}",
                with_causes(&err)
            );
            return ExitCode::FAILURE;
        }
    };
    match story::run(channel, &address).await {
        Ok(()) => {
            println!("rust story: all checks passed");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("FAIL: {failure}");
            ExitCode::FAILURE
        }
    }
}
