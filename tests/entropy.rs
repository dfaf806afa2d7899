//! EntropyService and PatternService over a real server.

mod common;

use common::{TestServer, approx, backend::require_sqlite};
use learning_service::pb::{self, EntropyResponseAction, QuarantineStatus};

fn check(job: &str, threshold: f64, cooldown: i64) -> pb::CheckEntropyResponseNeededRequest {
    pb::CheckEntropyResponseNeededRequest {
        job_hash: job.into(),
        entropy_threshold: Some(threshold),
        cooldown_seconds: Some(cooldown),
        ..Default::default()
    }
}

fn trigger(job: &str, entropy: f64, threshold: f64) -> pb::TriggerEntropyResponseRequest {
    pb::TriggerEntropyResponseRequest {
        trigger: Some(pb::EntropyTriggerContext {
            job_hash: job.into(),
            entropy_at_trigger: entropy,
            threshold_used: threshold,
            snapshot_id: None,
        }),
        config: None,
        request_id: String::new(),
    }
}

async fn metrics(server: &TestServer) -> pb::PatternEntropyMetrics {
    server
        .entropy()
        .calculate_pattern_entropy(pb::CalculatePatternEntropyRequest::default())
        .await
        .unwrap()
        .into_inner()
        .metrics
        .unwrap()
}

#[tokio::test]
async fn entropy_reference_values() {
    let cases: &[(&[i64], f64, f64, f64, f64)] = &[
        (&[10, 10], 1.0, 1.0, 1.0, 0.5),
        (&[90, 10], 0.468996, 1.0, 0.468996, 0.9),
        (&[1, 1, 2], 1.5, 1.584963, 0.946395, 0.5),
        (&[1, 2, 3, 4], 1.846439, 2.0, 0.923220, 0.4),
        (&[97, 1, 1, 1], 0.241941, 2.0, 0.120970, 0.97),
        (&[50, 25, 12, 6, 3, 2, 1, 1], 2.008122, 3.0, 0.669374, 0.5),
        (&[4, 4, 4, 4, 4], 2.321928, 2.321928, 1.0, 0.2),
    ];
    for (counts, h, hmax, diversity, dominant) in cases {
        let server = TestServer::start().await;
        server.seed_applications(counts).await;
        let m = metrics(&server).await;
        approx(m.shannon_entropy, *h);
        approx(m.max_possible_entropy, *hmax);
        approx(m.diversity_index, *diversity);
        approx(m.dominant_pattern_share, *dominant);
        assert_eq!(m.unique_pattern_count, counts.len() as i64);
        assert_eq!(m.effective_pattern_count, counts.len() as i64);
        assert_eq!(m.total_applications, counts.iter().sum::<i64>());
        assert!(m.id.is_empty());
        assert!(!m.threshold_exceeded);
        assert!(m.calculated_at.is_some());
        server.stop().await;
    }
}

#[tokio::test]
async fn empty_and_single_pattern_populations() {
    let server = TestServer::start().await;
    let empty = metrics(&server).await;
    assert_eq!(empty.unique_pattern_count, 0);
    assert_eq!(empty.total_applications, 0);
    assert_eq!(empty.max_possible_entropy, 0.0);

    // Unapplied patterns count as unique only; orphan applications are ignored.
    server.seed_applications(&[0, 5]).await;
    // An orphan application is a row another program wrote into the SQLite
    // file; on PostgreSQL only the service writes.
    if require_sqlite("empty_and_single_pattern_populations: the orphan application") {
        server.execute(
            "INSERT INTO pattern_applications (id, pattern_id) VALUES ('orphan', 'no-such-pattern')",
        );
    }
    let single = metrics(&server).await;
    assert_eq!(single.unique_pattern_count, 2);
    assert_eq!(single.effective_pattern_count, 1);
    assert_eq!(single.total_applications, 5);
    assert_eq!(single.max_possible_entropy, 1.0);
    assert_eq!(single.dominant_pattern_share, 1.0);
    assert!(single.shannon_entropy == 0.0 && single.shannon_entropy.is_sign_positive());
    assert!(single.diversity_index.is_sign_positive());

    // Single pattern: reason text says 0.000, never -0.000.
    let answer = server
        .entropy()
        .check_entropy_response_needed(check("job", 0.3, 3600))
        .await
        .unwrap()
        .into_inner();
    assert!(answer.needs_response);
    assert_eq!(answer.reason, "Entropy 0.000 < threshold 0.300");

    let alert = server
        .entropy()
        .calculate_pattern_entropy(pb::CalculatePatternEntropyRequest {
            alert_threshold: Some(0.5),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .metrics
        .unwrap();
    assert!(alert.threshold_exceeded);
}

#[tokio::test]
async fn check_reports_no_data_needed_healthy_and_cooldown() {
    let server = TestServer::start().await;
    let mut entropy = server.entropy();
    let none = entropy
        .check_entropy_response_needed(check("job", 0.3, 3600))
        .await
        .unwrap()
        .into_inner();
    assert!(!none.needs_response);
    assert_eq!(none.current_entropy, None);
    assert_eq!(none.reason, "No pattern applications to analyze");

    server.seed_applications(&[90, 10]).await;
    let needed = entropy
        .check_entropy_response_needed(check("job", 0.5, 3600))
        .await
        .unwrap()
        .into_inner();
    assert!(needed.needs_response);
    approx(needed.current_entropy.unwrap(), 0.468996);
    assert_eq!(needed.reason, "Entropy 0.469 < threshold 0.500");

    let healthy = entropy
        .check_entropy_response_needed(check("job", 0.3, 3600))
        .await
        .unwrap()
        .into_inner();
    assert!(!healthy.needs_response);
    assert_eq!(healthy.reason, "Entropy 0.469 >= threshold 0.300 (healthy)");
    // Defaults: threshold 0.3, cooldown 3600.
    let defaults = entropy
        .check_entropy_response_needed(pb::CheckEntropyResponseNeededRequest {
            job_hash: "job".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(defaults.reason, healthy.reason);

    entropy
        .trigger_entropy_response(trigger("job", 0.469, 0.5))
        .await
        .unwrap();
    let cooling = entropy
        .check_entropy_response_needed(check("job", 0.5, 3600))
        .await
        .unwrap()
        .into_inner();
    assert!(!cooling.needs_response);
    assert_eq!(cooling.reason, "Cooldown active (3600s remaining)");
    approx(cooling.current_entropy.unwrap(), 0.468996);
    assert!(cooling.cooldown_remaining_seconds.unwrap() <= 3600.0);

    // Another job is not cooled down by this one's response.
    let other = entropy
        .check_entropy_response_needed(check("other", 0.5, 3600))
        .await
        .unwrap()
        .into_inner();
    assert!(other.needs_response);
    // Cooldown 0: a past response never blocks.
    let no_cooldown = entropy
        .check_entropy_response_needed(check("job", 0.5, 0))
        .await
        .unwrap()
        .into_inner();
    assert!(no_cooldown.needs_response);
}

#[tokio::test]
async fn cooldown_counts_from_the_stored_time_and_is_capped() {
    // The stored times are rows in the original's formats, written into the
    // SQLite file by another program.
    if !require_sqlite("cooldown_counts_from_the_stored_time_and_is_capped") {
        return;
    }
    let server = TestServer::start().await;
    server.seed_applications(&[90, 10]).await;
    let now = chrono::Local::now().naive_local();
    let stamp = |seconds: i64| {
        (now + chrono::Duration::seconds(seconds))
            .format("%Y-%m-%dT%H:%M:%S%.6f")
            .to_string()
    };
    let sql = server.sql();
    let insert = |job: &str, at: String| {
        sql.execute(
            "INSERT INTO entropy_responses (id, job_hash, recorded_at, entropy_at_trigger, \
             threshold_used, actions_taken) VALUES (?1, ?2, ?3, 0.1, 0.3, '[]')",
            rusqlite::params![format!("id-{job}"), job, at],
        )
        .unwrap();
    };
    insert("past", stamp(-1000));
    insert("future", stamp(600));
    insert(
        "aware",
        format!("{}+00:00", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S")),
    );
    let mut entropy = server.entropy();
    let past = entropy
        .check_entropy_response_needed(check("past", 0.5, 3600))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(past.reason, "Cooldown active (2600s remaining)");
    let future = entropy
        .check_entropy_response_needed(check("future", 0.5, 3600))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(future.reason, "Cooldown active (3600s remaining)");
    let aware = entropy
        .check_entropy_response_needed(check("aware", 0.5, 3600))
        .await
        .unwrap()
        .into_inner();
    assert!(
        aware.reason.starts_with("Cooldown active (3"),
        "{}",
        aware.reason
    );
    let expired = entropy
        .check_entropy_response_needed(check("past", 0.5, 900))
        .await
        .unwrap()
        .into_inner();
    assert!(expired.needs_response);
}

#[tokio::test]
async fn trigger_boosts_revisits_and_records_atomically() {
    let server = TestServer::start().await;
    let mut patterns = server.patterns();
    let mut ids = Vec::new();
    for name in ["a", "b", "c", "d"] {
        let p = patterns
            .record_pattern(pb::RecordPatternRequest {
                pattern_type: "retry".into(),
                pattern_name: name.into(),
                quarantine_status: Some(QuarantineStatus::Quarantined as i32),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .pattern
            .unwrap();
        assert_eq!(p.quarantine_status, QuarantineStatus::Quarantined as i32);
        assert!(p.quarantined_at.is_some());
        ids.push(p.id);
    }
    // A soft-deleted quarantined pattern is not revisited; a legacy upper-case one is.
    server.execute(&format!(
        "UPDATE patterns SET active = 0 WHERE id = '{}'",
        ids[3]
    ));
    server.execute(&format!(
        "UPDATE patterns SET quarantine_status = 'QUARANTINED', last_seen = '2030-01-01T00:00:00' WHERE id = '{}'",
        ids[2]
    ));

    let mut entropy = server.entropy();
    let record = entropy
        .trigger_entropy_response(pb::TriggerEntropyResponseRequest {
            config: Some(pb::EntropyResponseConfig {
                max_quarantine_revisits: Some(2),
                ..Default::default()
            }),
            ..trigger("job", 0.2, 0.3)
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(
        record.actions_taken,
        vec![
            EntropyResponseAction::BudgetBoost as i32,
            EntropyResponseAction::QuarantineRevisit as i32
        ]
    );
    assert!(record.budget_boosted);
    assert_eq!(record.quarantine_revisits, 2);
    // Most recently seen first.
    assert_eq!(record.patterns_revisited[0], ids[2]);
    assert_eq!(record.patterns_revisited.len(), 2);
    assert_eq!(record.entropy_at_trigger, 0.2);
    assert_eq!(record.threshold_used, 0.3);

    let budget = server
        .budget()
        .get_exploration_budget(pb::GetExplorationBudgetRequest {
            job_hash: Some("job".into()),
        })
        .await
        .unwrap()
        .into_inner()
        .budget
        .unwrap();
    assert_eq!(budget.budget_value, 0.25);
    assert_eq!(
        budget.adjustment_reason.as_deref(),
        Some("Entropy response: diversity 0.200 < 0.300")
    );
    let pending = patterns
        .list_patterns(pb::ListPatternsRequest {
            status: Some(QuarantineStatus::Pending as i32),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .patterns;
    assert_eq!(pending.len(), 2);
    for p in &pending {
        assert_eq!(
            p.quarantine_reason.as_deref(),
            Some("Entropy response: revisiting for revalidation")
        );
    }

    // Stored in the original's formats.
    let actions = server.text("SELECT actions_taken FROM entropy_responses");
    let revisited = server.text("SELECT patterns_revisited FROM entropy_responses");
    let boosted = server.scalar("SELECT budget_boosted FROM entropy_responses");
    assert_eq!(actions, r#"["budget_boost", "quarantine_revisit"]"#);
    assert_eq!(
        revisited,
        format!(
            r#"["{}", "{}"]"#,
            record.patterns_revisited[0], record.patterns_revisited[1]
        )
    );
    assert_eq!(boosted, 1);
}

#[tokio::test]
async fn a_boost_that_cannot_rise_is_not_reported_as_a_boost() {
    let server = TestServer::start().await;
    let mut budget = server.budget();
    budget
        .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
            job_hash: "job".into(),
            budget_value: 0.5,
            adjustment_type: pb::AdjustmentType::Boost as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    let record = server
        .entropy()
        .trigger_entropy_response(trigger("job", 0.1, 0.3))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert!(!record.budget_boosted);
    assert!(record.actions_taken.is_empty());
    assert!(record.patterns_revisited.is_empty());
    let latest = budget
        .get_exploration_budget(pb::GetExplorationBudgetRequest {
            job_hash: Some("job".into()),
        })
        .await
        .unwrap()
        .into_inner()
        .budget
        .unwrap();
    assert_eq!(latest.budget_value, 0.5);
    assert_eq!(
        latest.adjustment_type,
        pb::AdjustmentType::CeilingEnforced as i32
    );
    let actions = server.text("SELECT actions_taken FROM entropy_responses");
    let revisited = server.text("SELECT patterns_revisited FROM entropy_responses");
    assert_eq!((actions.as_str(), revisited.as_str()), ("[]", "[]"));

    // Actions switched off: nothing but the record.
    let bare = server
        .entropy()
        .trigger_entropy_response(pb::TriggerEntropyResponseRequest {
            config: Some(pb::EntropyResponseConfig {
                boost_budget: Some(false),
                revisit_quarantine: Some(false),
                ..Default::default()
            }),
            ..trigger("job", 0.1, 0.3)
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert!(bare.actions_taken.is_empty());
    assert_eq!(server.row_counts()[0].1, 2, "budget rows");
}

#[tokio::test]
async fn response_reads_and_statistics() {
    let server = TestServer::start().await;
    let mut entropy = server.entropy();
    let empty = entropy
        .get_entropy_response_statistics(pb::GetEntropyResponseStatisticsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(empty, pb::GetEntropyResponseStatisticsResponse::default());
    assert!(
        entropy
            .get_last_entropy_response(pb::GetLastEntropyResponseRequest::default())
            .await
            .unwrap()
            .into_inner()
            .response
            .is_none()
    );

    // 0.10 (boosted), 0.20 (boosted), 0.25 (not boosted).
    let no_boost = pb::EntropyResponseConfig {
        boost_budget: Some(false),
        ..Default::default()
    };
    entropy
        .trigger_entropy_response(trigger("J", 0.10, 0.3))
        .await
        .unwrap();
    entropy
        .trigger_entropy_response(trigger("J", 0.20, 0.3))
        .await
        .unwrap();
    let last = entropy
        .trigger_entropy_response(pb::TriggerEntropyResponseRequest {
            config: Some(no_boost),
            ..trigger("J", 0.25, 0.3)
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    entropy
        .trigger_entropy_response(trigger("other", 0.05, 0.3))
        .await
        .unwrap();

    let stats = entropy
        .get_entropy_response_statistics(pb::GetEntropyResponseStatisticsRequest {
            job_hash: Some("J".into()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.total_responses, 3);
    approx(stats.avg_entropy_at_trigger, 0.183333);
    assert_eq!(stats.budget_boosts, 2);
    assert_eq!(stats.quarantine_revisits, 0);
    assert_eq!(stats.last_response, last.recorded_at);

    let latest = entropy
        .get_last_entropy_response(pb::GetLastEntropyResponseRequest {
            job_hash: Some("J".into()),
        })
        .await
        .unwrap()
        .into_inner()
        .response
        .unwrap();
    assert_eq!(latest.id, last.id);
    let history = entropy
        .get_entropy_response_history(pb::GetEntropyResponseHistoryRequest {
            job_hash: Some("J".into()),
            limit: 2,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let values: Vec<f64> = history
        .records
        .iter()
        .map(|r| r.entropy_at_trigger)
        .collect();
    assert_eq!(values, [0.25, 0.20]);
    let rest = entropy
        .get_entropy_response_history(pb::GetEntropyResponseHistoryRequest {
            job_hash: Some("J".into()),
            limit: 2,
            page_token: history.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.records.len(), 1);
    assert_eq!(rest.records[0].entropy_at_trigger, 0.10);
    assert!(rest.next_page_token.is_empty());
    let all = entropy
        .get_entropy_response_statistics(pb::GetEntropyResponseStatisticsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.total_responses, 4);
}

#[tokio::test]
async fn snapshots_are_recorded_and_listed_by_calculated_time() {
    let server = TestServer::start().await;
    server.seed_applications(&[1, 1, 2]).await;
    let mut entropy = server.entropy();
    let current = metrics(&server).await;
    let at = |seconds: i64| prost_types::Timestamp { seconds, nanos: 0 };
    let mut ids = Vec::new();
    for (seconds, exceeded) in [
        (1_700_000_100, false),
        (1_700_000_000, true),
        (1_700_000_100, false),
    ] {
        let response = entropy
            .record_pattern_entropy(pb::RecordPatternEntropyRequest {
                metrics: Some(pb::PatternEntropyMetrics {
                    calculated_at: Some(at(seconds)),
                    threshold_exceeded: exceeded,
                    ..current.clone()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.id.len(), 36);
        let stored = response.metrics.unwrap();
        assert_eq!(stored.id, response.id);
        assert_eq!(stored.calculated_at, Some(at(seconds)));
        ids.push(response.id);
    }
    let history = entropy
        .get_pattern_entropy_history(pb::GetPatternEntropyHistoryRequest {
            limit: 2,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first: Vec<&str> = history.records.iter().map(|r| r.id.as_str()).collect();
    // Newest calculated_at first; equal times: last recorded first.
    assert_eq!(first, [ids[2].as_str(), ids[0].as_str()]);
    approx(history.records[0].diversity_index, 0.946395);
    assert_eq!(history.records[0].unique_pattern_count, 3);
    let rest = entropy
        .get_pattern_entropy_history(pb::GetPatternEntropyHistoryRequest {
            limit: 2,
            page_token: history.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.records.len(), 1);
    assert_eq!(rest.records[0].id, ids[1]);
    assert!(rest.records[0].threshold_exceeded);
    assert!(rest.next_page_token.is_empty());

    // An absent calculated_at means now.
    let now = entropy
        .record_pattern_entropy(pb::RecordPatternEntropyRequest {
            metrics: Some(pb::PatternEntropyMetrics {
                calculated_at: None,
                ..current
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .metrics
        .unwrap();
    let seconds = now.calculated_at.unwrap().seconds;
    assert!((seconds - chrono::Utc::now().timestamp()).abs() < 60);
}

#[tokio::test]
async fn patterns_record_applications_status_and_list() {
    let server = TestServer::start().await;
    let mut patterns = server.patterns();
    let p = patterns
        .record_pattern(pb::RecordPatternRequest {
            pattern_type: "retry".into(),
            pattern_name: "backoff".into(),
            description: Some("exponential backoff".into()),
            quarantine_status: None,
            request_id: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .pattern
        .unwrap();
    assert_eq!(p.quarantine_status, QuarantineStatus::Pending as i32);
    assert_eq!(p.stored_quarantine_status, "pending");
    assert!(p.active);
    assert_eq!(p.application_count, 0);
    for (i, success) in [true, true, false].into_iter().enumerate() {
        let applied = patterns
            .record_pattern_application(pb::RecordPatternApplicationRequest {
                pattern_id: p.id.clone(),
                execution_id: format!("exec-{i}"),
                pattern_led_to_success: success,
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(applied.application_count, i as i64 + 1);
    }
    let unknown = patterns
        .record_pattern_application(pb::RecordPatternApplicationRequest {
            pattern_id: "nope".into(),
            execution_id: "e".into(),
            pattern_led_to_success: true,
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    let validated = patterns
        .set_pattern_quarantine_status(pb::SetPatternQuarantineStatusRequest {
            pattern_id: p.id.clone(),
            status: QuarantineStatus::Validated as i32,
            reason: Some("checked".into()),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .pattern
        .unwrap();
    assert_eq!(
        validated.quarantine_status,
        QuarantineStatus::Validated as i32
    );
    assert_eq!(validated.quarantine_reason.as_deref(), Some("checked"));
    assert!(validated.validated_at.is_some());
    assert_eq!(validated.application_count, 3);
    assert_eq!(validated.led_to_success_count, 2);
    assert_eq!(validated.led_to_failure_count, 1);
    let missing = patterns
        .set_pattern_quarantine_status(pb::SetPatternQuarantineStatusRequest {
            pattern_id: "nope".into(),
            status: QuarantineStatus::Retired as i32,
            reason: None,
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    for i in 0..4 {
        patterns
            .record_pattern(pb::RecordPatternRequest {
                pattern_type: "t".into(),
                pattern_name: format!("n{i}"),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let first = patterns
        .list_patterns(pb::ListPatternsRequest {
            limit: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.patterns[0].id, p.id);
    let second = patterns
        .list_patterns(pb::ListPatternsRequest {
            limit: 3,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.patterns.len(), 2);
    assert_eq!(second.patterns[1].pattern_name, "n3");
    let only_validated = patterns
        .list_patterns(pb::ListPatternsRequest {
            status: Some(QuarantineStatus::Validated as i32),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(only_validated.patterns.len(), 1);
    approx(metrics(&server).await.total_applications as f64, 3.0);
}
