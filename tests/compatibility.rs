//! A file written by the original Python store is served correctly, and what
//! the service adds keeps the original's formats.

mod common;

use common::{TestServer, approx};
use learning_service::pb::{self, AdjustmentType, EntropyResponseAction};

const ORIGINAL_SCHEMA: &str = include_str!("fixtures/original_schema.sql");

fn original_file(path: &std::path::Path) {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection.execute_batch(ORIGINAL_SCHEMA).unwrap();
    connection
        .execute_batch(
            r#"
            INSERT INTO exploration_budget VALUES
              ('3f2c1a9e-0b7d-4c55-9a51-2f0e8d6b1c01', 'J', '2025-01-01T09:00:00.500000', 0.15, 0.2, 'initial', 'Initial budget set'),
              ('3f2c1a9e-0b7d-4c55-9a51-2f0e8d6b1c02', 'J', '2025-01-01T10:00:00', 0.25, 0.1, 'boost', 'Entropy 0.100 < threshold 0.300'),
              ('3f2c1a9e-0b7d-4c55-9a51-2f0e8d6b1c03', 'K', '2025-01-01 11:00:00', 0.5, NULL, 'manual_override', NULL);
            INSERT INTO entropy_responses VALUES
              ('6a1e4c0d-7f3b-4e2a-8c9d-0e1f2a3b4c01', 'J', '2025-01-01T10:00:00.000001', 0.1, 0.3,
               '["budget_boost", "quarantine_revisit"]', 1, 1, '["p-quarantined"]'),
              ('6a1e4c0d-7f3b-4e2a-8c9d-0e1f2a3b4c02', 'J', '2025-01-01T10:05:00', 0.2, 0.3, '[]', 0, 0, NULL);
            INSERT INTO pattern_entropy_history VALUES
              ('9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c01', '2025-01-01T08:00:00', 1.0, 1.0, 1.0, 2, 2, 20, 0.5, 0),
              ('9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c02', '2025-01-01T09:00:00.250000', 0.469, 1.0, 0.469, 3, 2, 100, 0.9, 1);
            INSERT INTO patterns (id, pattern_type, pattern_name, quarantine_status, last_seen, context_tags)
              VALUES ('p-quarantined', 'retry', 'backoff', 'quarantined', '2025-01-01T07:00:00', '["a", "b"]'),
                     ('p-applied', 'retry', 'jitter', 'validated', '2025-01-01T07:00:00', '[]');
            INSERT INTO pattern_applications (id, pattern_id, execution_id, applied_at, pattern_led_to_success)
              VALUES ('a1', 'p-applied', 'e1', '2025-01-01T07:00:00', 1),
                     ('a2', 'p-applied', 'e2', '2025-01-01T07:00:01', 0),
                     ('a3', 'p-quarantined', 'e3', '2025-01-01T07:00:02', 1);
            "#,
        )
        .unwrap();
}

/// The original's tables and their columns. The service's own aggregate
/// tables (prefix `ls_`, kept by triggers) are left out: they are checked
/// apart.
fn table_columns(connection: &rusqlite::Connection) -> Vec<(String, String)> {
    // The service's own tables (`ls_` prefix) are not the original's.
    let mut statement = connection
        .prepare(
            "SELECT m.name, group_concat(p.name || ' ' || p.type, ', ') FROM sqlite_master m, \
             pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'ls!_%' ESCAPE '!' \
             GROUP BY m.name ORDER BY m.name",
        )
        .unwrap();
    statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap()
}

fn is_original_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    let base = text.len() == 19 || (text.len() == 26 && bytes[19] == b'.');
    base && bytes[10] == b'T'
        && chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
}

#[tokio::test]
async fn serves_an_original_file_and_keeps_its_formats() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("global-learning.db");
    original_file(&db);
    let columns_before = table_columns(&rusqlite::Connection::open(&db).unwrap());
    let server = TestServer::start_on(db.clone()).await;

    let mut budget = server.budget();
    let latest = budget
        .get_exploration_budget(pb::GetExplorationBudgetRequest {
            job_hash: Some("J".into()),
        })
        .await
        .unwrap()
        .into_inner()
        .budget
        .unwrap();
    assert_eq!(latest.budget_value, 0.25);
    assert_eq!(latest.adjustment_type, AdjustmentType::Boost as i32);
    let free_form = budget
        .get_exploration_budget(pb::GetExplorationBudgetRequest {
            job_hash: Some("K".into()),
        })
        .await
        .unwrap()
        .into_inner()
        .budget
        .unwrap();
    assert_eq!(
        free_form.adjustment_type,
        AdjustmentType::Unspecified as i32
    );
    assert_eq!(free_form.stored_adjustment_type, "manual_override");
    assert!(
        free_form.recorded_at.is_some(),
        "space-separated time is read"
    );
    let first = budget
        .get_exploration_budget_history(pb::GetExplorationBudgetHistoryRequest {
            job_hash: Some("J".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(first[1].recorded_at.as_ref().unwrap().nanos, 500_000_000);

    let mut entropy = server.entropy();
    let last = entropy
        .get_last_entropy_response(pb::GetLastEntropyResponseRequest {
            job_hash: Some("J".into()),
        })
        .await
        .unwrap()
        .into_inner()
        .response
        .unwrap();
    assert!(last.actions_taken.is_empty() && last.patterns_revisited.is_empty());
    let history = entropy
        .get_entropy_response_history(pb::GetEntropyResponseHistoryRequest::default())
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(
        history[1].actions_taken,
        vec![
            EntropyResponseAction::BudgetBoost as i32,
            EntropyResponseAction::QuarantineRevisit as i32
        ]
    );
    assert_eq!(history[1].patterns_revisited, vec!["p-quarantined"]);
    let snapshots = entropy
        .get_pattern_entropy_history(pb::GetPatternEntropyHistoryRequest::default())
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(snapshots[0].id, "9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c02");
    assert!(snapshots[0].threshold_exceeded);
    let metrics = entropy
        .calculate_pattern_entropy(pb::CalculatePatternEntropyRequest::default())
        .await
        .unwrap()
        .into_inner()
        .metrics
        .unwrap();
    assert_eq!(
        (metrics.unique_pattern_count, metrics.total_applications),
        (2, 3)
    );
    approx(metrics.dominant_pattern_share, 2.0 / 3.0);

    // Writes of the service, in the original's formats.
    budget
        .calculate_budget_adjustment(pb::CalculateBudgetAdjustmentRequest {
            job_hash: "J".into(),
            current_entropy: 0.1,
            ..Default::default()
        })
        .await
        .unwrap();
    let response = entropy
        .trigger_entropy_response(pb::TriggerEntropyResponseRequest {
            trigger: Some(pb::EntropyTriggerContext {
                job_hash: "J".into(),
                entropy_at_trigger: 0.1,
                threshold_used: 0.3,
                snapshot_id: None,
            }),
            config: None,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(response.patterns_revisited, vec!["p-quarantined"]);
    entropy
        .record_pattern_entropy(pb::RecordPatternEntropyRequest {
            metrics: Some(pb::PatternEntropyMetrics {
                id: String::new(),
                calculated_at: None,
                ..metrics
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    server
        .patterns()
        .record_pattern_application(pb::RecordPatternApplicationRequest {
            pattern_id: "p-applied".into(),
            execution_id: "e9".into(),
            pattern_led_to_success: true,
            request_id: String::new(),
        })
        .await
        .unwrap();
    server.stop().await;

    let sql = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(
        table_columns(&sql),
        columns_before,
        "tables and columns unchanged"
    );
    let added: Vec<String> = sql
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'ls\\_%' ESCAPE '\\' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        added,
        [
            "ls_application_hours",
            "ls_application_minutes",
            "ls_budget_explanation",
            "ls_budget_stats",
            "ls_budget_versions",
            "ls_idempotency",
            "ls_meta",
            "ls_pattern_app_counts",
            "ls_population_changes",
            "ls_response_explanation",
            "ls_response_stats",
            "ls_snapshot_diversity"
        ],
        "only the service's own tables are added"
    );
    let version: i64 = sql
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 15);
    let mut times: Vec<String> = Vec::new();
    for query in [
        "SELECT recorded_at FROM exploration_budget WHERE rowid > 3",
        "SELECT recorded_at FROM entropy_responses WHERE rowid > 2",
        "SELECT calculated_at FROM pattern_entropy_history WHERE rowid > 2",
        "SELECT applied_at FROM pattern_applications WHERE rowid > 3",
    ] {
        let mut statement = sql.prepare(query).unwrap();
        let found: Vec<String> = statement
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(!found.is_empty(), "{query}");
        times.extend(found);
    }
    for text in &times {
        assert!(
            is_original_time(text),
            "not the original's time format: {text}"
        );
    }
    let (id, actions, revisited, boosted, kind): (String, String, String, i64, String) = sql
        .query_row(
            "SELECT r.id, r.actions_taken, r.patterns_revisited, r.budget_boosted, b.adjustment_type \
             FROM entropy_responses r, exploration_budget b WHERE r.rowid = 3 AND b.rowid = 5",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert!(uuid::Uuid::parse_str(&id).unwrap().get_version_num() == 4 && id == id.to_lowercase());
    assert_eq!(actions, r#"["budget_boost", "quarantine_revisit"]"#);
    assert_eq!(revisited, r#"["p-quarantined"]"#);
    assert_eq!(boosted, 1);
    assert_eq!(kind, "boost");
    let (status, reason): (String, String) = sql
        .query_row(
            "SELECT quarantine_status, quarantine_reason FROM patterns WHERE id = 'p-quarantined'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("pending", "Entropy response: revisiting for revalidation")
    );
    let success: i64 = sql
        .query_row(
            "SELECT pattern_led_to_success FROM pattern_applications WHERE execution_id = 'e9'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(success, 1);
    let integrity: String = sql
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}
