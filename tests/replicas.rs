//! Two replicas over one store: two servers (each with its own store, pool
//! and stream feed) on the same database. With LEARNING_TEST_BACKEND=postgres
//! this is two replicas sharing one PostgreSQL database; on SQLite, two
//! processes' worth of stores sharing one file.

mod common;

use std::time::Duration;

use common::TestServer;
use learning_service::pb::{self, watch_exploration_budget_response::Event};
use tokio::time::timeout;
use tonic::Streaming;

const WAIT: Duration = Duration::from_secs(20);

/// Two servers over one new database.
async fn two_replicas() -> (tempfile::TempDir, TestServer, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    let a = TestServer::start_on(db.clone()).await;
    let b = TestServer::start_on(db).await;
    (dir, a, b)
}

fn adjustment(job: &str, entropy: f64) -> pb::CalculateBudgetAdjustmentRequest {
    pb::CalculateBudgetAdjustmentRequest {
        job_hash: job.into(),
        current_entropy: entropy,
        ..Default::default()
    }
}

async fn statistics(server: &TestServer, job: &str) -> pb::GetExplorationBudgetStatisticsResponse {
    server
        .budget()
        .get_exploration_budget_statistics(pb::GetExplorationBudgetStatisticsRequest {
            job_hash: Some(job.into()),
        })
        .await
        .unwrap()
        .into_inner()
}

/// 2 x 16 concurrent adjustments of one job, half on each replica, leave
/// what 32 sequential adjustments leave: no lost update, no double read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adjustments_on_two_replicas_count_as_sequential_ones() {
    let (_dir, a, b) = two_replicas().await;
    // Entropies that alternate boosts and decays, so the order of reads matters.
    let entropy = |n: usize| if n.is_multiple_of(3) { 0.9 } else { 0.1 };
    let calls: Vec<_> = (0..32)
        .map(|n: usize| {
            let mut client = if n.is_multiple_of(2) {
                a.budget()
            } else {
                b.budget()
            };
            tokio::spawn(async move {
                client
                    .calculate_budget_adjustment(adjustment("shared", entropy(n)))
                    .await
                    .map(|r| r.into_inner().record.unwrap().budget_value)
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap().expect("every adjustment succeeds");
    }
    // The same 32 entropies, in the order the store committed them, one at a
    // time on a fresh store: the same final value.
    let history = a
        .budget()
        .get_exploration_budget_history(pb::GetExplorationBudgetHistoryRequest {
            job_hash: Some("shared".into()),
            limit: 100,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(history.len(), 32);
    let sequential = TestServer::start().await;
    let mut last = 0.0;
    for record in history.iter().rev() {
        let entropy = record.entropy_at_time.unwrap();
        last = sequential
            .budget()
            .calculate_budget_adjustment(adjustment("shared", entropy))
            .await
            .unwrap()
            .into_inner()
            .record
            .unwrap()
            .budget_value;
    }
    for server in [&a, &b] {
        let stats = statistics(server, "shared").await;
        assert_eq!(stats.total_adjustments, 32);
        assert_eq!(stats.current_budget, Some(last));
    }
    let expected = statistics(&sequential, "shared").await;
    assert_eq!(statistics(&b, "shared").await, expected);
    sequential.stop().await;
    a.stop().await;
    b.stop().await;
}

/// 16 concurrent RespondToEntropyIfNeeded calls, split over both replicas,
/// inside one cooldown: exactly one response.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_response_per_cooldown_whichever_replica_is_called() {
    let (_dir, a, b) = two_replicas().await;
    let pattern = a
        .patterns()
        .record_pattern(pb::RecordPatternRequest {
            pattern_type: "retry".into(),
            pattern_name: "backoff".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .pattern
        .unwrap();
    for n in 0..3 {
        b.patterns()
            .record_pattern_application(pb::RecordPatternApplicationRequest {
                pattern_id: pattern.id.clone(),
                execution_id: format!("exec-{n}"),
                pattern_led_to_success: true,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let calls: Vec<_> = (0..16)
        .map(|n: usize| {
            let mut client = if n.is_multiple_of(2) {
                a.entropy()
            } else {
                b.entropy()
            };
            tokio::spawn(async move {
                client
                    .respond_to_entropy_if_needed(pb::RespondToEntropyIfNeededRequest {
                        job_hash: "job".into(),
                        entropy_threshold: Some(0.3),
                        cooldown_seconds: Some(3600),
                        ..Default::default()
                    })
                    .await
                    .map(|r| r.into_inner().response.is_some())
            })
        })
        .collect();
    let mut responded = 0;
    for call in calls {
        responded += call.await.unwrap().expect("every call succeeds") as u32;
    }
    assert_eq!(responded, 1);
    for server in [&a, &b] {
        let stats = server
            .entropy()
            .get_entropy_response_statistics(pb::GetEntropyResponseStatisticsRequest {
                job_hash: Some("job".into()),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stats.total_responses, 1);
    }
    a.stop().await;
    b.stop().await;
}

async fn watch(
    server: &TestServer,
    after_cursor: String,
) -> Streaming<pb::WatchExplorationBudgetResponse> {
    server
        .budget()
        .watch_exploration_budget(pb::WatchExplorationBudgetRequest {
            after_cursor,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// Reads `count` records (skipping markers): (id, cursor) in stream order.
async fn records(
    stream: &mut Streaming<pb::WatchExplorationBudgetResponse>,
    count: usize,
) -> Vec<(String, String)> {
    let mut found = Vec::new();
    while found.len() < count {
        let message = timeout(WAIT, stream.message())
            .await
            .expect("a message in time")
            .expect("no error")
            .expect("stream open");
        if let Some(Event::Record(record)) = message.event {
            found.push((record.id, message.cursor));
        }
    }
    found
}

/// A subscriber on A receives every record written on A and on B, once each
/// and in commit order, and its cursor resumes on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_sees_both_replicas_writes_in_order_and_resumes_on_the_other() {
    let (_dir, a, b) = two_replicas().await;
    let mut stream = watch(&a, String::new()).await;
    let writers: Vec<_> = [&a, &b]
        .into_iter()
        .enumerate()
        .map(|(n, server)| {
            let mut client = server.budget();
            tokio::spawn(async move {
                for i in 0..20 {
                    client
                        .calculate_budget_adjustment(adjustment(&format!("job-{n}-{}", i % 3), 0.1))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let received = records(&mut stream, 40).await;
    let committed: Vec<String> = {
        let history = b
            .budget()
            .get_exploration_budget_history(pb::GetExplorationBudgetHistoryRequest {
                job_hash: None,
                limit: 100,
                page_token: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .records;
        history.into_iter().rev().map(|r| r.id).collect()
    };
    let ids: Vec<String> = received.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids, committed, "every record once, in commit order");
    // Nothing more arrives: no duplicates later either.
    let more = timeout(Duration::from_millis(800), async {
        loop {
            let message = stream.message().await.unwrap().unwrap();
            if matches!(message.event, Some(Event::Record(_))) {
                return message;
            }
        }
    })
    .await;
    assert!(more.is_err(), "a record arrived twice: {more:?}");

    // A's cursor after the 25th record resumes on B with the other 15.
    let cursor = received[24].1.clone();
    drop(stream);
    a.stop().await;
    let mut resumed = watch(&b, cursor).await;
    let rest = records(&mut resumed, 15).await;
    let rest_ids: Vec<String> = rest.into_iter().map(|(id, _)| id).collect();
    assert_eq!(rest_ids, committed[25..]);
    b.stop().await;
}
