//! Every validation rule: INVALID_ARGUMENT naming the field, and nothing written.

mod common;

use common::{
    TestServer, assert_invalid,
    valid::{self, adjust, update},
};
use learning_service::pb;
use tonic::Status;

fn trigger() -> pb::TriggerEntropyResponseRequest {
    pb::TriggerEntropyResponseRequest {
        trigger: Some(valid::trigger_context()),
        config: None,
        request_id: String::new(),
    }
}

fn config(c: pb::EntropyResponseConfig) -> pb::TriggerEntropyResponseRequest {
    pb::TriggerEntropyResponseRequest {
        config: Some(c),
        ..trigger()
    }
}

fn context(t: pb::EntropyTriggerContext) -> pb::TriggerEntropyResponseRequest {
    pb::TriggerEntropyResponseRequest {
        trigger: Some(t),
        config: None,
        request_id: String::new(),
    }
}

fn metrics(m: pb::PatternEntropyMetrics) -> pb::RecordPatternEntropyRequest {
    pb::RecordPatternEntropyRequest {
        metrics: Some(m),
        request_id: String::new(),
    }
}

const NON_FINITE: [f64; 3] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

#[tokio::test]
async fn budget_requests() {
    let server = TestServer::start().await;
    let before = server.row_counts();
    let mut budget = server.budget();
    let mut cases: Vec<(&str, pb::UpdateExplorationBudgetRequest)> = vec![
        (
            "job_hash",
            pb::UpdateExplorationBudgetRequest {
                job_hash: String::new(),
                ..update()
            },
        ),
        (
            "job_hash",
            pb::UpdateExplorationBudgetRequest {
                job_hash: "j".repeat(257),
                ..update()
            },
        ),
        (
            "adjustment_type",
            pb::UpdateExplorationBudgetRequest {
                adjustment_type: 0,
                ..update()
            },
        ),
        (
            "adjustment_type",
            pb::UpdateExplorationBudgetRequest {
                adjustment_type: 42,
                ..update()
            },
        ),
        (
            "floor",
            pb::UpdateExplorationBudgetRequest {
                floor: Some(0.6),
                ceiling: Some(0.4),
                ..update()
            },
        ),
        (
            "floor",
            pb::UpdateExplorationBudgetRequest {
                floor: Some(-0.1),
                ..update()
            },
        ),
        (
            "ceiling",
            pb::UpdateExplorationBudgetRequest {
                ceiling: Some(1.5),
                ..update()
            },
        ),
        (
            "entropy_at_time",
            pb::UpdateExplorationBudgetRequest {
                entropy_at_time: Some(1.01),
                ..update()
            },
        ),
        (
            "adjustment_reason",
            pb::UpdateExplorationBudgetRequest {
                adjustment_reason: Some("r".repeat(5000)),
                ..update()
            },
        ),
    ];
    for bad in NON_FINITE {
        cases.push((
            "budget_value",
            pb::UpdateExplorationBudgetRequest {
                budget_value: bad,
                ..update()
            },
        ));
        cases.push((
            "floor",
            pb::UpdateExplorationBudgetRequest {
                floor: Some(bad),
                ..update()
            },
        ));
        cases.push((
            "ceiling",
            pb::UpdateExplorationBudgetRequest {
                ceiling: Some(bad),
                ..update()
            },
        ));
        cases.push((
            "entropy_at_time",
            pb::UpdateExplorationBudgetRequest {
                entropy_at_time: Some(bad),
                ..update()
            },
        ));
    }
    for (field, request) in cases {
        let status = budget.update_exploration_budget(request).await.unwrap_err();
        assert_invalid(&status, field);
    }

    let mut cases: Vec<(&str, pb::CalculateBudgetAdjustmentRequest)> = vec![
        (
            "job_hash",
            pb::CalculateBudgetAdjustmentRequest {
                job_hash: String::new(),
                ..adjust()
            },
        ),
        (
            "current_entropy",
            pb::CalculateBudgetAdjustmentRequest {
                current_entropy: -0.5,
                ..adjust()
            },
        ),
        (
            "current_entropy",
            pb::CalculateBudgetAdjustmentRequest {
                current_entropy: 2.0,
                ..adjust()
            },
        ),
        (
            "decay_rate",
            pb::CalculateBudgetAdjustmentRequest {
                decay_rate: Some(0.0),
                ..adjust()
            },
        ),
        (
            "decay_rate",
            pb::CalculateBudgetAdjustmentRequest {
                decay_rate: Some(1.2),
                ..adjust()
            },
        ),
        (
            "boost_amount",
            pb::CalculateBudgetAdjustmentRequest {
                boost_amount: Some(-0.1),
                ..adjust()
            },
        ),
        (
            "entropy_threshold",
            pb::CalculateBudgetAdjustmentRequest {
                entropy_threshold: Some(3.0),
                ..adjust()
            },
        ),
        (
            "initial_budget",
            pb::CalculateBudgetAdjustmentRequest {
                initial_budget: Some(1.1),
                ..adjust()
            },
        ),
        (
            "floor",
            pb::CalculateBudgetAdjustmentRequest {
                floor: Some(0.5),
                ceiling: Some(0.2),
                ..adjust()
            },
        ),
    ];
    for bad in NON_FINITE {
        cases.push((
            "current_entropy",
            pb::CalculateBudgetAdjustmentRequest {
                current_entropy: bad,
                ..adjust()
            },
        ));
        cases.push((
            "decay_rate",
            pb::CalculateBudgetAdjustmentRequest {
                decay_rate: Some(bad),
                ..adjust()
            },
        ));
        cases.push((
            "boost_amount",
            pb::CalculateBudgetAdjustmentRequest {
                boost_amount: Some(bad),
                ..adjust()
            },
        ));
        cases.push((
            "entropy_threshold",
            pb::CalculateBudgetAdjustmentRequest {
                entropy_threshold: Some(bad),
                ..adjust()
            },
        ));
        cases.push((
            "initial_budget",
            pb::CalculateBudgetAdjustmentRequest {
                initial_budget: Some(bad),
                ..adjust()
            },
        ));
        cases.push((
            "floor",
            pb::CalculateBudgetAdjustmentRequest {
                floor: Some(bad),
                ..adjust()
            },
        ));
        cases.push((
            "ceiling",
            pb::CalculateBudgetAdjustmentRequest {
                ceiling: Some(bad),
                ..adjust()
            },
        ));
    }
    for (field, request) in cases {
        let status = budget
            .calculate_budget_adjustment(request)
            .await
            .unwrap_err();
        assert_invalid(&status, field);
    }

    for (field, limit, job) in [
        ("limit", 1001, None),
        ("limit", -1, None),
        ("job_hash", 10, Some("j".repeat(300))),
    ] {
        let status = budget
            .get_exploration_budget_history(pb::GetExplorationBudgetHistoryRequest {
                job_hash: job,
                limit,
                page_token: String::new(),
            })
            .await
            .unwrap_err();
        assert_invalid(&status, field);
    }
    for token in ["garbage", "djF8YmVmb3JlfHg", "%%%"] {
        let status = budget
            .get_exploration_budget_history(pb::GetExplorationBudgetHistoryRequest {
                page_token: token.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_invalid(&status, "page_token");
    }
    assert_eq!(server.row_counts(), before);
}

#[tokio::test]
async fn entropy_requests() {
    let server = TestServer::start().await;
    server.seed_applications(&[3, 1]).await;
    let before = server.row_counts();
    let mut entropy = server.entropy();

    let mut checks: Vec<(&str, pb::CheckEntropyResponseNeededRequest)> = vec![
        ("job_hash", pb::CheckEntropyResponseNeededRequest::default()),
        (
            "cooldown_seconds",
            pb::CheckEntropyResponseNeededRequest {
                job_hash: "j".into(),
                cooldown_seconds: Some(-1),
                ..Default::default()
            },
        ),
        (
            "entropy_threshold",
            pb::CheckEntropyResponseNeededRequest {
                job_hash: "j".into(),
                entropy_threshold: Some(1.5),
                ..Default::default()
            },
        ),
    ];
    for bad in NON_FINITE {
        checks.push((
            "entropy_threshold",
            pb::CheckEntropyResponseNeededRequest {
                job_hash: "j".into(),
                entropy_threshold: Some(bad),
                ..Default::default()
            },
        ));
    }
    for (field, request) in checks {
        let status = entropy
            .check_entropy_response_needed(request)
            .await
            .unwrap_err();
        assert_invalid(&status, field);
    }

    let base = pb::EntropyTriggerContext {
        job_hash: "job".into(),
        entropy_at_trigger: 0.1,
        threshold_used: 0.3,
        snapshot_id: None,
    };
    let mut triggers: Vec<(&str, pb::TriggerEntropyResponseRequest)> = vec![
        ("trigger", pb::TriggerEntropyResponseRequest::default()),
        (
            "trigger.job_hash",
            context(pb::EntropyTriggerContext {
                job_hash: String::new(),
                ..base.clone()
            }),
        ),
        (
            "trigger.job_hash",
            context(pb::EntropyTriggerContext {
                job_hash: "x".repeat(257),
                ..base.clone()
            }),
        ),
        (
            "trigger.entropy_at_trigger",
            context(pb::EntropyTriggerContext {
                entropy_at_trigger: -0.1,
                ..base.clone()
            }),
        ),
        (
            "trigger.threshold_used",
            context(pb::EntropyTriggerContext {
                threshold_used: 1.1,
                ..base.clone()
            }),
        ),
        (
            "config.max_quarantine_revisits",
            config(pb::EntropyResponseConfig {
                max_quarantine_revisits: Some(-1),
                ..Default::default()
            }),
        ),
        (
            "config.max_quarantine_revisits",
            config(pb::EntropyResponseConfig {
                max_quarantine_revisits: Some(101),
                ..Default::default()
            }),
        ),
        (
            "config.budget_floor",
            config(pb::EntropyResponseConfig {
                budget_floor: Some(0.6),
                budget_ceiling: Some(0.5),
                ..Default::default()
            }),
        ),
        (
            "config.budget_ceiling",
            config(pb::EntropyResponseConfig {
                budget_ceiling: Some(-1.0),
                ..Default::default()
            }),
        ),
        (
            "config.budget_boost_amount",
            config(pb::EntropyResponseConfig {
                budget_boost_amount: Some(1.5),
                ..Default::default()
            }),
        ),
    ];
    for bad in NON_FINITE {
        triggers.push((
            "trigger.entropy_at_trigger",
            context(pb::EntropyTriggerContext {
                entropy_at_trigger: bad,
                ..base.clone()
            }),
        ));
        triggers.push((
            "trigger.threshold_used",
            context(pb::EntropyTriggerContext {
                threshold_used: bad,
                ..base.clone()
            }),
        ));
        triggers.push((
            "config.budget_boost_amount",
            config(pb::EntropyResponseConfig {
                budget_boost_amount: Some(bad),
                ..Default::default()
            }),
        ));
        triggers.push((
            "config.budget_floor",
            config(pb::EntropyResponseConfig {
                budget_floor: Some(bad),
                ..Default::default()
            }),
        ));
    }
    for (field, request) in triggers {
        let status = entropy.trigger_entropy_response(request).await.unwrap_err();
        assert_invalid(&status, field);
    }

    let mut snapshots: Vec<(&str, pb::RecordPatternEntropyRequest)> = vec![
        (
            "metrics",
            pb::RecordPatternEntropyRequest {
                metrics: None,
                request_id: String::new(),
            },
        ),
        (
            "metrics.unique_pattern_count",
            metrics(pb::PatternEntropyMetrics {
                unique_pattern_count: -1,
                ..valid::metrics()
            }),
        ),
        (
            "metrics.total_applications",
            metrics(pb::PatternEntropyMetrics {
                total_applications: -5,
                ..valid::metrics()
            }),
        ),
        (
            "metrics.effective_pattern_count",
            metrics(pb::PatternEntropyMetrics {
                effective_pattern_count: 3,
                ..valid::metrics()
            }),
        ),
        (
            "metrics.effective_pattern_count",
            metrics(pb::PatternEntropyMetrics {
                total_applications: 1,
                ..valid::metrics()
            }),
        ),
        (
            "metrics.diversity_index",
            metrics(pb::PatternEntropyMetrics {
                diversity_index: 1.2,
                ..valid::metrics()
            }),
        ),
        (
            "metrics.dominant_pattern_share",
            metrics(pb::PatternEntropyMetrics {
                dominant_pattern_share: -0.2,
                ..valid::metrics()
            }),
        ),
        (
            "metrics.shannon_entropy",
            metrics(pb::PatternEntropyMetrics {
                shannon_entropy: -1.0,
                ..valid::metrics()
            }),
        ),
        (
            "metrics.calculated_at",
            metrics(pb::PatternEntropyMetrics {
                calculated_at: Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: -1,
                }),
                ..valid::metrics()
            }),
        ),
    ];
    for bad in NON_FINITE {
        snapshots.push((
            "metrics.shannon_entropy",
            metrics(pb::PatternEntropyMetrics {
                shannon_entropy: bad,
                ..valid::metrics()
            }),
        ));
        snapshots.push((
            "metrics.max_possible_entropy",
            metrics(pb::PatternEntropyMetrics {
                max_possible_entropy: bad,
                ..valid::metrics()
            }),
        ));
        snapshots.push((
            "metrics.diversity_index",
            metrics(pb::PatternEntropyMetrics {
                diversity_index: bad,
                ..valid::metrics()
            }),
        ));
    }
    for (field, request) in snapshots {
        let status = entropy.record_pattern_entropy(request).await.unwrap_err();
        assert_invalid(&status, field);
    }

    let limits = [
        entropy
            .get_pattern_entropy_history(pb::GetPatternEntropyHistoryRequest {
                limit: 5000,
                page_token: String::new(),
            })
            .await
            .unwrap_err(),
        entropy
            .get_entropy_response_history(pb::GetEntropyResponseHistoryRequest {
                limit: -3,
                ..Default::default()
            })
            .await
            .unwrap_err(),
    ];
    for status in &limits {
        assert_invalid(status, "limit");
    }
    let token: Status = entropy
        .get_pattern_entropy_history(pb::GetPatternEntropyHistoryRequest {
            limit: 0,
            page_token: "nonsense".into(),
        })
        .await
        .unwrap_err();
    assert_invalid(&token, "page_token");
    let alert = entropy
        .calculate_pattern_entropy(pb::CalculatePatternEntropyRequest {
            alert_threshold: Some(f64::NAN),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&alert, "alert_threshold");
    assert_eq!(server.row_counts(), before);
}

#[tokio::test]
async fn pattern_requests() {
    let server = TestServer::start().await;
    let before = server.row_counts();
    let mut patterns = server.patterns();
    let valid = pb::RecordPatternRequest {
        pattern_type: "t".into(),
        pattern_name: "n".into(),
        ..Default::default()
    };
    let cases = [
        (
            "pattern_type",
            pb::RecordPatternRequest {
                pattern_type: String::new(),
                ..valid.clone()
            },
        ),
        (
            "pattern_name",
            pb::RecordPatternRequest {
                pattern_name: "n".repeat(300),
                ..valid.clone()
            },
        ),
        (
            "description",
            pb::RecordPatternRequest {
                description: Some("d".repeat(5000)),
                ..valid.clone()
            },
        ),
        (
            "quarantine_status",
            pb::RecordPatternRequest {
                quarantine_status: Some(0),
                ..valid.clone()
            },
        ),
        (
            "quarantine_status",
            pb::RecordPatternRequest {
                quarantine_status: Some(9),
                ..valid.clone()
            },
        ),
    ];
    for (field, request) in cases {
        assert_invalid(&patterns.record_pattern(request).await.unwrap_err(), field);
    }
    let application = patterns
        .record_pattern_application(pb::RecordPatternApplicationRequest {
            pattern_id: "p".into(),
            execution_id: String::new(),
            pattern_led_to_success: true,
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&application, "execution_id");
    let status = patterns
        .set_pattern_quarantine_status(pb::SetPatternQuarantineStatusRequest {
            pattern_id: "p".into(),
            status: 0,
            reason: None,
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_invalid(&status, "status");
    let listing = patterns
        .list_patterns(pb::ListPatternsRequest {
            status: Some(77),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&listing, "status");
    assert_eq!(server.row_counts(), before);
}

#[tokio::test]
async fn required_job_hash_is_never_a_filter() {
    let server = TestServer::start().await;
    let mut budget = server.budget();
    budget.update_exploration_budget(update()).await.unwrap();
    let status = budget
        .calculate_budget_adjustment(pb::CalculateBudgetAdjustmentRequest {
            job_hash: String::new(),
            ..adjust()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, "job_hash");
    assert_eq!(server.row_counts()[0].1, 1);
}
