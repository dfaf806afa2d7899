//! The server's own loops: the entropy sampler and the automatic responder.

mod common;

use std::time::Duration;

use common::{TestServer, seed_applications};
use learning_service::{
    background::{ResponderOptions, SamplerOptions},
    domain::records::ResponseConfig,
    server::ServerOptions,
};

async fn wait_for_rows(server: &TestServer, sql: &str, at_least: i64) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let count: i64 = server.sql().query_row(sql, [], |r| r.get(0)).unwrap();
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
    {
        // Applications exist before the server starts: diversity 0.469.
        learning_service::store::sqlite::SqliteStore::open(&db, Default::default()).unwrap();
        seed_applications(&rusqlite::Connection::open(&db).unwrap(), &[90, 10]);
    }
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
    let (alerts, total, min_diversity, max_diversity): (i64, i64, f64, f64) = server
        .sql()
        .query_row(
            "SELECT TOTAL(threshold_exceeded), COUNT(*), MIN(diversity_index), MAX(diversity_index) \
             FROM pattern_entropy_history",
            [],
            |r| Ok((r.get::<_, f64>(0)? as i64, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(alerts, total, "0.469 < 0.5: every sample is an alert");
    assert!((min_diversity - 0.468996).abs() < 1e-6 && (max_diversity - 0.468996).abs() < 1e-6);
}

#[tokio::test]
async fn the_responder_responds_once_per_cooldown_for_each_job() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    {
        learning_service::store::sqlite::SqliteStore::open(&db, Default::default()).unwrap();
        seed_applications(&rusqlite::Connection::open(&db).unwrap(), &[97, 1, 1, 1]);
    }
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
    let sql = server.sql();
    let mut statement = sql
        .prepare("SELECT job_hash, entropy_at_trigger, threshold_used FROM entropy_responses ORDER BY job_hash")
        .unwrap();
    let rows: Vec<(String, f64, f64)> = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[1].0.as_str()),
        ("daemon-a", "daemon-b")
    );
    for (_, entropy, threshold) in &rows {
        assert!((entropy - 0.120970).abs() < 1e-6);
        assert_eq!(*threshold, 0.3);
    }
    let budgets: i64 = server
        .sql()
        .query_row(
            "SELECT COUNT(*) FROM exploration_budget WHERE adjustment_type = 'boost'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(budgets, 2);
}
