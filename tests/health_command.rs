//! `learning-service health`: exit status 0 only when the server answers
//! SERVING, as container health checks need.

#[allow(unused_imports)] // its re-export of the test CA, not used here
mod cli_support;
mod common;

use std::time::Duration;

use common::{TestServer, wait_for_health};
use learning_service::server::ServerOptions;
use tonic_health::pb::health_check_response::ServingStatus;

async fn health(args: &[&str]) -> cli_support::Run {
    let mut all = vec!["health"];
    all.extend_from_slice(args);
    cli_support::run(&all).await
}

#[tokio::test]
async fn serving_is_0_and_not_serving_is_1() {
    let server = TestServer::start_with(ServerOptions {
        health_check_interval: Duration::from_millis(50),
        ..ServerOptions::default()
    })
    .await;
    let address = server.address.to_string();

    let serving = health(&["--server", &address]).await;
    assert_eq!(serving.code, Some(0), "{}", serving.stderr);
    assert_eq!(serving.stdout.trim(), format!("http://{address}: SERVING"));

    let service = health(&[
        "--server",
        &address,
        "--service",
        "learning.v1.BudgetService",
    ])
    .await;
    assert_eq!(service.code, Some(0), "{}", service.stderr);

    // A service the server does not have: NOT_FOUND, not a pass.
    let unknown = health(&["--server", &address, "--service", "no.Such"]).await;
    assert_eq!(unknown.code, Some(1));
    assert!(unknown.stderr.contains("NOT_FOUND"), "{}", unknown.stderr);

    // The file is moved away: the probe reports NOT_SERVING. (On PostgreSQL,
    // tests/postgres_faults.rs stops the database instead.)
    if !common::backend::require_sqlite("serving_is_0_and_not_serving_is_1: NOT_SERVING") {
        server.stop().await;
        return;
    }
    let moved = server.db.with_extension("moved");
    std::fs::rename(&server.db, &moved).unwrap();
    wait_for_health(
        &server,
        "",
        ServingStatus::NotServing,
        Duration::from_secs(10),
    )
    .await;
    let not_serving = health(&["--server", &address]).await;
    assert_eq!(not_serving.code, Some(1));
    assert!(not_serving.stdout.is_empty(), "{}", not_serving.stdout);
    assert_eq!(
        not_serving.stderr.trim(),
        format!("error: http://{address}: NOT_SERVING")
    );

    std::fs::rename(&moved, &server.db).unwrap();
    wait_for_health(&server, "", ServingStatus::Serving, Duration::from_secs(10)).await;
    assert_eq!(health(&["--server", &address]).await.code, Some(0));
    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_is_1() {
    // A port nobody listens on any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let unreachable = health(&["--server", &address, "--timeout", "2s"]).await;
    assert_eq!(unreachable.code, Some(1));
    assert!(
        unreachable.stderr.contains("cannot connect"),
        "{}",
        unreachable.stderr
    );
}

#[tokio::test]
async fn a_health_check_needs_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.txt");
    std::fs::write(&tokens, "a-long-secret-token-0123456789\n").unwrap();
    let server = TestServer::start_with(ServerOptions {
        auth: Some(learning_service::auth::BearerTokens::from_file(&tokens).unwrap()),
        ..ServerOptions::default()
    })
    .await;
    let checked = health(&["--server", &server.address.to_string()]).await;
    assert_eq!(checked.code, Some(0), "{}", checked.stderr);
    server.stop().await;
}
