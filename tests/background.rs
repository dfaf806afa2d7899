//! The server's own loops: the entropy sampler and the automatic responder.

mod common;

use std::time::Duration;

use common::TestServer;
use learning_service::{
    background::{ResponderOptions, SamplerOptions},
    domain::records::ResponseConfig,
    pb,
    server::ServerOptions,
};

/// Applications recorded by a server that stops before the test's starts.
async fn seed_before_start(db: &std::path::Path, counts: &[i64]) {
    let seeder = TestServer::start_on(db.to_path_buf()).await;
    seeder.seed_applications(counts).await;
    seeder.stop().await;
}

async fn wait_for_rows(server: &TestServer, sql: &str, at_least: i64) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let count = server.scalar(sql);
        if count >= at_least {
            return count;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sql}: {count} < {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_sampler_records_snapshots_marked_against_the_alert_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    // Applications exist before the server starts: diversity 0.469.
    seed_before_start(&db, &[90, 10]).await;
    let server = TestServer::start_on_with(
        db,
        ServerOptions {
            sampler: Some(SamplerOptions {
                interval: Duration::from_millis(100),
                alert_threshold: 0.5,
                diversity: Default::default(),
            }),
            ..Default::default()
        },
    )
    .await;
    wait_for_rows(&server, "SELECT COUNT(*) FROM pattern_entropy_history", 3).await;
    let snapshots = server
        .entropy()
        .get_pattern_entropy_history(pb::GetPatternEntropyHistoryRequest {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    let total = snapshots.len();
    let alerts = snapshots.iter().filter(|s| s.threshold_exceeded).count();
    let diversity = |s: &pb::PatternEntropyMetrics| s.diversity_index;
    let min_diversity = snapshots.iter().map(diversity).fold(f64::MAX, f64::min);
    let max_diversity = snapshots.iter().map(diversity).fold(f64::MIN, f64::max);
    assert_eq!(alerts, total, "0.469 < 0.5: every sample is an alert");
    assert!((min_diversity - 0.468996).abs() < 1e-6 && (max_diversity - 0.468996).abs() < 1e-6);
}

#[tokio::test]
async fn the_responder_responds_once_per_cooldown_for_each_job() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    seed_before_start(&db, &[97, 1, 1, 1]).await;
    let server = TestServer::start_on_with(
        db,
        ServerOptions {
            responder: Some(ResponderOptions {
                jobs: vec!["daemon-a".into(), "daemon-b".into()],
                interval: Duration::from_millis(50),
                entropy_threshold: 0.3,
                cooldown_seconds: 3600,
                config: ResponseConfig::default(),
                diversity: Default::default(),
            }),
            ..Default::default()
        },
    )
    .await;
    wait_for_rows(&server, "SELECT COUNT(*) FROM entropy_responses", 2).await;
    // Ten more checks of each job run (each is one write, answered "cooldown
    // active"); the cooldown holds.
    let checks = server.write_counts().operations;
    common::wait_until("ten more checks of each job ran", || {
        server.write_counts().operations >= checks + 20
    })
    .await;
    let mut rows: Vec<(String, f64, f64)> = server
        .entropy()
        .get_entropy_response_history(pb::GetEntropyResponseHistoryRequest {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records
        .into_iter()
        .map(|r| (r.job_hash, r.entropy_at_trigger, r.threshold_used))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[1].0.as_str()),
        ("daemon-a", "daemon-b")
    );
    for (_, entropy, threshold) in &rows {
        assert!((entropy - 0.120970).abs() < 1e-6);
        assert_eq!(*threshold, 0.3);
    }
    let budgets =
        server.scalar("SELECT COUNT(*) FROM exploration_budget WHERE adjustment_type = 'boost'");
    assert_eq!(budgets, 2);
}
