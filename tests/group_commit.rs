//! Group commit over gRPC: concurrent writes share commits, and a write that
//! fails inside the write transaction fails alone.

mod common;

use common::TestServer;
use learning_service::pb;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_share_commits_and_fail_alone() {
    // No health probe: its writer round trips would count as operations.
    let server = TestServer::start_with(learning_service::server::ServerOptions {
        health_check_interval: std::time::Duration::ZERO,
        ..Default::default()
    })
    .await;
    let ids = common::seed_applications(&server.sql(), &[0, 0]);
    const CALLERS: usize = 64;
    const CALLS: usize = 10;
    let before = server.write_counts();
    let mut tasks = Vec::new();
    for caller in 0..CALLERS {
        let mut client = server.patterns();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for call in 0..CALLS {
                // Every 8th caller names an unknown pattern: NOT_FOUND is found
                // inside the write closure, after its batch has begun.
                let pattern_id = if caller % 8 == 0 {
                    format!("unknown-{caller}-{call}")
                } else {
                    ids[caller % 2].clone()
                };
                let outcome = client
                    .record_pattern_application(pb::RecordPatternApplicationRequest {
                        pattern_id,
                        execution_id: format!("exec-{caller}-{call}"),
                        pattern_led_to_success: call % 2 == 0,
                        request_id: String::new(),
                    })
                    .await;
                outcomes.push((caller % 8 == 0, outcome.map_err(|s| s.code())));
            }
            outcomes
        }));
    }
    let mut succeeded = 0_i64;
    for task in tasks {
        for (should_fail, outcome) in task.await.unwrap() {
            if should_fail {
                assert_eq!(outcome.unwrap_err(), Code::NotFound);
            } else {
                outcome.expect("a valid write succeeds whatever its batch holds");
                succeeded += 1;
            }
        }
    }
    let stored: i64 = server
        .sql()
        .query_row("SELECT COUNT(*) FROM pattern_applications", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, succeeded);
    assert_eq!(succeeded, (CALLERS - CALLERS / 8) as i64 * CALLS as i64);
    let counters: i64 = server
        .sql()
        .query_row(
            "SELECT SUM(led_to_success_count + led_to_failure_count) FROM patterns",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(counters, succeeded, "failed writes left no partial update");
    let after = server.write_counts();
    let operations = after.operations - before.operations;
    let commits = after.commits - before.commits;
    assert_eq!(operations, (CALLERS * CALLS) as u64);
    assert!(
        commits < operations,
        "64 concurrent callers formed no batch: {after:?}"
    );
    server.stop().await;
}
