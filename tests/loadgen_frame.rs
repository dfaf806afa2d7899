//! `loadgen frame` writes one call's request as a gRPC frame for h2load:
//! the frame decodes with prost to the request the load generator sends,
//! its printed path names the real method, and a real server accepts it.

mod common;

use std::{path::Path, process::Command};

use common::TestServer;
use learning_service::pb;
use prost::Message;

const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

/// Runs `loadgen frame ARGS --out DIR/frame`; returns the printed path and
/// the message bytes after the checked 5-byte prefix.
fn frame(dir: &Path, args: &[&str]) -> (String, Vec<u8>) {
    let out = dir.join("frame");
    let output = Command::new(LOADGEN)
        .arg("frame")
        .args(args)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run loadgen");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "loadgen frame failed: {stderr}");
    let bytes = std::fs::read(&out).expect("frame file");
    assert!(bytes.len() >= 5, "a frame has a 5-byte prefix: {bytes:?}");
    assert_eq!(bytes[0], 0, "uncompressed");
    let length = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
    assert_eq!(
        length,
        bytes.len() - 5,
        "the prefix holds the message length"
    );
    let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (path, bytes[5..].to_vec())
}

#[tokio::test]
async fn update_frame_decodes_to_the_job_and_budget_and_the_server_takes_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, body) = frame(
        dir.path(),
        &[
            "--rpc",
            "UpdateExplorationBudget",
            "--job",
            "7",
            "--call",
            "3",
        ],
    );
    assert_eq!(path, "/learning.v1.BudgetService/UpdateExplorationBudget");
    let request = pb::UpdateExplorationBudgetRequest::decode(body.as_slice()).expect("decodes");
    assert_eq!(request.job_hash, "job-7");
    assert!((request.budget_value - 0.13).abs() < 1e-12, "{request:?}");
    assert_eq!(request.adjustment_type, pb::AdjustmentType::Boost as i32);
    assert_eq!(request.entropy_at_time, Some(0.2));

    let server = TestServer::start().await;
    let record = server
        .budget()
        .update_exploration_budget(request)
        .await
        .expect("the server accepts the framed request")
        .into_inner()
        .record
        .expect("a record");
    assert_eq!(record.job_hash, "job-7");
    assert!((record.budget_value - 0.13).abs() < 1e-12, "{record:?}");
    server.stop().await;
}

#[test]
fn history_frame_asks_for_fifty_rows_of_the_job() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, body) = frame(
        dir.path(),
        &["--rpc", "GetExplorationBudgetHistory", "--job", "2"],
    );
    assert_eq!(
        path,
        "/learning.v1.BudgetService/GetExplorationBudgetHistory"
    );
    let request = pb::GetExplorationBudgetHistoryRequest::decode(body.as_slice()).expect("decodes");
    assert_eq!(request.job_hash.as_deref(), Some("job-2"));
    assert_eq!(request.limit, 50);
}

#[test]
fn check_frame_is_the_health_check_of_the_whole_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, body) = frame(dir.path(), &["--rpc", "Check"]);
    assert_eq!(path, "/grpc.health.v1.Health/Check");
    let request = tonic_health::pb::HealthCheckRequest::decode(body.as_slice()).expect("decodes");
    assert_eq!(request.service, "");
}

#[test]
fn mix_frame_is_the_rpc_of_that_call_with_its_window() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The tenth call of the mix checks whether an entropy response is needed.
    let (path, body) = frame(
        dir.path(),
        &[
            "--rpc", "mix", "--call", "9", "--job", "4", "--window", "1h",
        ],
    );
    assert_eq!(
        path,
        "/learning.v1.EntropyService/CheckEntropyResponseNeeded"
    );
    let request = pb::CheckEntropyResponseNeededRequest::decode(body.as_slice()).expect("decodes");
    assert_eq!(request.job_hash, "job-4");
    assert_eq!(request.cooldown_seconds, Some(0));
    assert_eq!(request.entropy_threshold, Some(0.3));
    assert_eq!(request.window.map(|w| w.seconds), Some(3600));
}

#[test]
fn unknown_rpc_is_refused_without_a_frame() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("frame");
    let output = Command::new(LOADGEN)
        .args(["frame", "--rpc", "NoSuchRpc", "--out"])
        .arg(&out)
        .output()
        .expect("run loadgen");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown rpc \"NoSuchRpc\""));
    assert!(!out.exists());
}
