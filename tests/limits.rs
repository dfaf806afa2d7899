//! Limits: message size, the server's time ceiling (which must not cut
//! streams), and the bounded write queue.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use learning_service::{limits::Limits, pb, server::ServerOptions, store::StoreOptions};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

fn with_limits(limits: Limits) -> ServerOptions {
    ServerOptions {
        limits,
        // No probe writes in the write queue these tests watch.
        health_check_interval: Duration::ZERO,
        ..ServerOptions::default()
    }
}

fn a_write(job: &str) -> pb::UpdateExplorationBudgetRequest {
    pb::UpdateExplorationBudgetRequest {
        job_hash: job.into(),
        budget_value: 0.2,
        adjustment_type: pb::AdjustmentType::Boost as i32,
        ..Default::default()
    }
}

fn budget_rows(server: &TestServer) -> i64 {
    server.scalar("SELECT COUNT(*) FROM exploration_budget")
}

#[tokio::test]
async fn messages_over_the_limit_are_refused_both_ways() {
    let server = TestServer::start_with(with_limits(Limits {
        max_message_bytes: 1024,
        ..Limits::default()
    }))
    .await;
    let mut patterns = server.patterns();
    let pattern = |description: usize| pb::RecordPatternRequest {
        pattern_type: "t".into(),
        pattern_name: "n".into(),
        description: Some("d".repeat(description)),
        ..Default::default()
    };

    let too_big = patterns.record_pattern(pattern(2000)).await.unwrap_err();
    assert_eq!(too_big.code(), Code::ResourceExhausted, "{too_big:?}");
    assert!(too_big.message().contains("1024"), "{too_big:?}");
    assert_eq!(server.row_counts()[3], ("patterns".to_string(), 0));

    for _ in 0..3 {
        patterns.record_pattern(pattern(700)).await.expect("fits");
    }
    let answer_too_big = patterns
        .list_patterns(pb::ListPatternsRequest::default())
        .await
        .unwrap_err();
    // An answer over the limit fails in the trailers, after the response
    // started; tonic words it OUT_OF_RANGE there (a request: RESOURCE_EXHAUSTED).
    assert_eq!(
        answer_too_big.code(),
        Code::OutOfRange,
        "{answer_too_big:?}"
    );
    let one = patterns
        .list_patterns(pb::ListPatternsRequest {
            limit: 1,
            ..Default::default()
        })
        .await
        .expect("one pattern fits");
    assert_eq!(one.into_inner().patterns.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_call_over_the_time_ceiling_gets_deadline_exceeded() {
    let ceiling = Duration::from_millis(300);
    let server = TestServer::start_with(with_limits(Limits {
        request_timeout_max: Some(ceiling),
        ..Limits::default()
    }))
    .await;
    // Another program holds the write lock, so writes wait (SQLite's busy
    // timeout is 30 s; PostgreSQL's lock waits have no timeout).
    let blocker = server.block_writes();

    let started = Instant::now();
    let late = server
        .budget()
        .update_exploration_budget(a_write("late"))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(late.code(), Code::DeadlineExceeded, "{late:?}");
    assert!(late.message().contains("300ms"), "{late:?}");
    assert!(took >= ceiling && took < Duration::from_secs(5), "{took:?}");

    // A shorter client deadline wins over the ceiling (tonic answers CANCELLED).
    let mut request = tonic::Request::new(a_write("hurried"));
    request.set_timeout(Duration::from_millis(20));
    let hurried = server
        .budget()
        .update_exploration_budget(request)
        .await
        .unwrap_err();
    assert!(
        matches!(hurried.code(), Code::Cancelled | Code::DeadlineExceeded),
        "{hurried:?}"
    );
    assert!(
        !hurried.message().contains("--request-timeout-max"),
        "{hurried:?}"
    );

    // Reads do not wait for the lock and are not affected.
    server
        .budget()
        .get_exploration_budget(pb::GetExplorationBudgetRequest::default())
        .await
        .expect("read");
    blocker.release();
    server.stop().await;
}

#[tokio::test]
async fn streams_outlive_the_time_ceiling_and_end_at_shutdown() {
    let server = TestServer::start_with(ServerOptions {
        limits: Limits {
            request_timeout_max: Some(Duration::from_millis(200)),
            ..Limits::default()
        },
        ..ServerOptions::default()
    })
    .await;
    let mut watch = server
        .health()
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);

    tokio::time::sleep(Duration::from_secs(1)).await;
    let quiet = tokio::time::timeout(Duration::from_millis(200), watch.message()).await;
    assert!(
        quiet.is_err(),
        "the stream ended or sent something: {quiet:?}"
    );

    // Shutdown tells watchers, then ends their streams so it can complete.
    let stopping = tokio::spawn(server.stop());
    let last = watch.message().await.expect("stream").expect("a message");
    assert_eq!(last.status(), ServingStatus::NotServing);
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("shutdown completes with a watcher connected")
        .unwrap();
    assert!(matches!(watch.message().await, Ok(None) | Err(_)));
}

#[tokio::test]
async fn a_full_write_queue_answers_resource_exhausted() {
    // The write queue is the SQLite writer's; on PostgreSQL each call runs
    // its own transaction on a pooled connection (no queue to fill).
    if !common::backend::require_sqlite("a_full_write_queue_answers_resource_exhausted") {
        return;
    }
    let server = TestServer::start_with_store(
        with_limits(Limits::default()),
        StoreOptions {
            write_queue_capacity: 1,
            ..StoreOptions::default()
        },
    )
    .await;
    let blocker = server.sql();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

    // The writer takes the first write and waits for the lock; the second fills the queue.
    let mut client = server.budget();
    let first =
        tokio::spawn(async move { client.update_exploration_budget(a_write("first")).await });
    common::wait_until("the writer took the first write", || {
        server.write_counts().operations == 1
    })
    .await;
    let mut client = server.budget();
    let second =
        tokio::spawn(async move { client.update_exploration_budget(a_write("second")).await });
    common::wait_until("the second write is queued", || {
        server.write_counts().queued == 1
    })
    .await;

    for _ in 0..50 {
        let started = Instant::now();
        let refused = server
            .budget()
            .update_exploration_budget(a_write("refused"))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "refused at once"
        );
    }
    assert!(
        !first.is_finished() && !second.is_finished(),
        "first {} second {}",
        first.is_finished(),
        second.is_finished()
    );

    blocker.execute_batch("COMMIT").unwrap();
    first.await.unwrap().expect("first write");
    second.await.unwrap().expect("second write");
    assert_eq!(budget_rows(&server), 2);
    server.stop().await;
}
