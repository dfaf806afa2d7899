//! Concurrent writers: no lost update, no double response.

mod common;

use std::collections::HashSet;

use common::TestServer;
use learning_service::pb::{self, QuarantineStatus};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adjustments_lose_no_update() {
    let server = TestServer::start().await;
    const CALLERS: usize = 32;
    const CALLS: usize = 50;
    const BOOST: f64 = 0.0001;
    let request = pb::CalculateBudgetAdjustmentRequest {
        job_hash: "shared".into(),
        current_entropy: 0.1,
        floor: Some(0.0),
        ceiling: Some(1.0),
        boost_amount: Some(BOOST),
        initial_budget: Some(0.0),
        ..Default::default()
    };
    let mut tasks = Vec::new();
    for _ in 0..CALLERS {
        let mut client = server.budget();
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..CALLS {
                client
                    .calculate_budget_adjustment(request.clone())
                    .await
                    .expect("adjustment");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rows: i64 = server.scalar("SELECT COUNT(*) FROM exploration_budget");
    assert_eq!(rows, (CALLERS * CALLS) as i64);
    // The sequential result: one initial row, then every other call boosts the previous value.
    let mut expected = 0.0_f64;
    for _ in 1..CALLERS * CALLS {
        expected += BOOST;
    }
    let latest = server
        .budget()
        .get_exploration_budget(pb::GetExplorationBudgetRequest {
            job_hash: Some("shared".into()),
        })
        .await
        .unwrap()
        .into_inner()
        .budget
        .unwrap();
    assert_eq!(latest.budget_value, expected);
    let initials: i64 =
        server.scalar("SELECT COUNT(*) FROM exploration_budget WHERE adjustment_type = 'initial'");
    assert_eq!(initials, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_triggers_revisit_each_pattern_once() {
    let server = TestServer::start().await;
    let mut patterns = server.patterns();
    let mut quarantined = HashSet::new();
    for name in ["a", "b", "c"] {
        let p = patterns
            .record_pattern(pb::RecordPatternRequest {
                pattern_type: "t".into(),
                pattern_name: name.into(),
                quarantine_status: Some(QuarantineStatus::Quarantined as i32),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .pattern
            .unwrap();
        quarantined.insert(p.id);
    }
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let mut client = server.entropy();
        tasks.push(tokio::spawn(async move {
            client
                .trigger_entropy_response(pb::TriggerEntropyResponseRequest {
                    trigger: Some(pb::EntropyTriggerContext {
                        job_hash: "job".into(),
                        entropy_at_trigger: 0.1,
                        threshold_used: 0.3,
                        snapshot_id: None,
                    }),
                    config: Some(pb::EntropyResponseConfig {
                        boost_budget: Some(false),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await
                .expect("trigger")
                .into_inner()
                .record
                .unwrap()
        }));
    }
    let mut revisited = Vec::new();
    for task in tasks {
        revisited.extend(task.await.unwrap().patterns_revisited);
    }
    assert_eq!(revisited.len(), 3, "{revisited:?}");
    assert_eq!(revisited.into_iter().collect::<HashSet<_>>(), quarantined);
    let stats = server
        .entropy()
        .get_entropy_response_statistics(pb::GetEntropyResponseStatisticsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.total_responses, 16);
    assert_eq!(stats.quarantine_revisits, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_respond_if_needed_records_one_response() {
    let server = TestServer::start().await;
    server.seed_applications(&[90, 10]).await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let mut client = server.entropy();
        tasks.push(tokio::spawn(async move {
            client
                .respond_to_entropy_if_needed(pb::RespondToEntropyIfNeededRequest {
                    job_hash: "daemon".into(),
                    entropy_threshold: Some(0.5),
                    cooldown_seconds: Some(3600),
                    ..Default::default()
                })
                .await
                .expect("respond")
                .into_inner()
        }));
    }
    let mut responded = Vec::new();
    for task in tasks {
        let answer = task.await.unwrap();
        if answer.needs_response {
            let record = answer.response.expect("a response record when needed");
            assert_eq!(record.threshold_used, 0.5);
            assert!((record.entropy_at_trigger - 0.468996).abs() < 1e-6);
            responded.push(record);
        } else {
            assert!(answer.response.is_none());
            assert!(
                answer.reason.starts_with("Cooldown active ("),
                "{}",
                answer.reason
            );
        }
    }
    assert_eq!(responded.len(), 1);
    let stored: i64 = server.scalar("SELECT COUNT(*) FROM entropy_responses");
    assert_eq!(stored, 1);
    // Healthy: nothing recorded.
    let healthy = server
        .entropy()
        .respond_to_entropy_if_needed(pb::RespondToEntropyIfNeededRequest {
            job_hash: "other".into(),
            entropy_threshold: Some(0.2),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!healthy.needs_response && healthy.response.is_none());
    assert_eq!(healthy.reason, "Entropy 0.469 >= threshold 0.200 (healthy)");
}
