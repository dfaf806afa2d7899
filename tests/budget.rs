//! BudgetService over a real server: every RPC, the spec's worked values and empty cases.

mod common;

use common::{TestServer, approx};
use learning_service::pb::{self, AdjustmentType};

fn update(job: &str, value: f64, kind: AdjustmentType) -> pb::UpdateExplorationBudgetRequest {
    pb::UpdateExplorationBudgetRequest {
        job_hash: job.into(),
        budget_value: value,
        adjustment_type: kind as i32,
        ..Default::default()
    }
}

fn adjust(job: &str, entropy: f64) -> pb::CalculateBudgetAdjustmentRequest {
    pb::CalculateBudgetAdjustmentRequest {
        job_hash: job.into(),
        current_entropy: entropy,
        ..Default::default()
    }
}

#[tokio::test]
async fn empty_store_answers_with_unset_records_and_zero_statistics() {
    let server = TestServer::start().await;
    let mut budget = server.budget();
    let latest = budget
        .get_exploration_budget(pb::GetExplorationBudgetRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(latest.budget.is_none());
    let history = budget
        .get_exploration_budget_history(pb::GetExplorationBudgetHistoryRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(history.records.is_empty());
    assert!(history.next_page_token.is_empty());
    let stats = budget
        .get_exploration_budget_statistics(pb::GetExplorationBudgetStatisticsRequest {
            job_hash: Some("nobody".into()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats, pb::GetExplorationBudgetStatisticsResponse::default());
    assert!(stats.current_budget.is_none());
}

#[tokio::test]
async fn update_clamps_and_relabels() {
    let server = TestServer::start().await;
    let mut budget = server.budget();

    let kept = budget
        .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
            adjustment_reason: Some("manual".into()),
            entropy_at_time: Some(0.4),
            ..update("job", 0.2, AdjustmentType::Boost)
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(kept.budget_value, 0.2);
    assert_eq!(kept.adjustment_type, AdjustmentType::Boost as i32);
    assert_eq!(kept.stored_adjustment_type, "boost");
    assert_eq!(kept.adjustment_reason.as_deref(), Some("manual"));
    assert_eq!(kept.entropy_at_time, Some(0.4));
    assert_eq!(kept.job_hash, "job");
    assert_eq!(kept.id.len(), 36);
    assert_eq!(&kept.id[14..15], "4");
    assert!(kept.recorded_at.is_some());

    let low = budget
        .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
            adjustment_reason: Some("overwritten".into()),
            ..update("job", 0.01, AdjustmentType::Decay)
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(low.budget_value, 0.05);
    assert_eq!(low.adjustment_type, AdjustmentType::FloorEnforced as i32);
    assert_eq!(
        low.adjustment_reason.as_deref(),
        Some("Budget 0.010 enforced to floor 0.050")
    );

    let high = budget
        .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
            floor: Some(0.1),
            ceiling: Some(0.3),
            ..update("job", 7.5, AdjustmentType::Boost)
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(high.budget_value, 0.3);
    assert_eq!(high.adjustment_type, AdjustmentType::CeilingEnforced as i32);
    assert_eq!(
        high.adjustment_reason.as_deref(),
        Some("Budget 7.500 enforced to ceiling 0.300")
    );

    // Exactly at a bound: not relabelled.
    let at_floor = budget
        .update_exploration_budget(update("job", 0.05, AdjustmentType::Decay))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(at_floor.adjustment_type, AdjustmentType::Decay as i32);

    // Negative zero is stored and reported as +0.0 (with a zero floor).
    let zero = budget
        .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
            floor: Some(0.0),
            ..update("zero", -0.0, AdjustmentType::Initial)
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert!(zero.budget_value == 0.0 && zero.budget_value.is_sign_positive());
}

#[tokio::test]
async fn adjustment_follows_the_worked_values() {
    let server = TestServer::start().await;
    let mut budget = server.budget();
    let record =
        |r: tonic::Response<pb::CalculateBudgetAdjustmentResponse>| r.into_inner().record.unwrap();

    let first = record(
        budget
            .calculate_budget_adjustment(adjust("j", 0.1))
            .await
            .unwrap(),
    );
    assert_eq!(first.budget_value, 0.15);
    assert_eq!(first.adjustment_type, AdjustmentType::Initial as i32);
    assert_eq!(
        first.adjustment_reason.as_deref(),
        Some("Initial budget set")
    );
    assert_eq!(first.entropy_at_time, Some(0.1));

    let boosted = record(
        budget
            .calculate_budget_adjustment(adjust("j", 0.1))
            .await
            .unwrap(),
    );
    assert_eq!(boosted.budget_value, 0.25);
    assert_eq!(boosted.adjustment_type, AdjustmentType::Boost as i32);
    assert_eq!(
        boosted.adjustment_reason.as_deref(),
        Some("Entropy 0.100 < threshold 0.300")
    );

    // Equality with the threshold decays.
    let decayed = record(
        budget
            .calculate_budget_adjustment(adjust("j", 0.3))
            .await
            .unwrap(),
    );
    assert_eq!(decayed.budget_value, 0.25 * 0.95);
    assert_eq!(decayed.adjustment_type, AdjustmentType::Decay as i32);
    assert_eq!(
        decayed.adjustment_reason.as_deref(),
        Some("Entropy 0.300 >= threshold, decaying")
    );

    // 0.20 then decay 0.90 -> 0.18000000000000002.
    budget
        .update_exploration_budget(update("k", 0.2, AdjustmentType::Initial))
        .await
        .unwrap();
    let decay_90 = record(
        budget
            .calculate_budget_adjustment(pb::CalculateBudgetAdjustmentRequest {
                decay_rate: Some(0.9),
                ..adjust("k", 0.5)
            })
            .await
            .unwrap(),
    );
    assert_eq!(decay_90.budget_value, 0.18000000000000002);

    // 0.45 then boost -> ceiling enforced.
    budget
        .update_exploration_budget(update("c", 0.45, AdjustmentType::Initial))
        .await
        .unwrap();
    let capped = record(
        budget
            .calculate_budget_adjustment(adjust("c", 0.1))
            .await
            .unwrap(),
    );
    assert_eq!(capped.budget_value, 0.5);
    assert_eq!(
        capped.adjustment_type,
        AdjustmentType::CeilingEnforced as i32
    );
    assert_eq!(
        capped.adjustment_reason.as_deref(),
        Some("Budget 0.550 enforced to ceiling 0.500")
    );

    // 0.06 then decay 0.5 -> floor enforced.
    budget
        .update_exploration_budget(update("f", 0.06, AdjustmentType::Initial))
        .await
        .unwrap();
    let floored = record(
        budget
            .calculate_budget_adjustment(pb::CalculateBudgetAdjustmentRequest {
                decay_rate: Some(0.5),
                ..adjust("f", 0.9)
            })
            .await
            .unwrap(),
    );
    assert_eq!(floored.budget_value, 0.05);
    assert_eq!(
        floored.adjustment_type,
        AdjustmentType::FloorEnforced as i32
    );
    assert_eq!(
        floored.adjustment_reason.as_deref(),
        Some("Budget 0.030 enforced to floor 0.050")
    );

    // Initial 0.8 is clamped too.
    let initial_high = record(
        budget
            .calculate_budget_adjustment(pb::CalculateBudgetAdjustmentRequest {
                initial_budget: Some(0.8),
                ..adjust("new", 0.1)
            })
            .await
            .unwrap(),
    );
    assert_eq!(initial_high.budget_value, 0.5);
    assert_eq!(
        initial_high.adjustment_reason.as_deref(),
        Some("Budget 0.800 enforced to ceiling 0.500")
    );
}

#[tokio::test]
async fn a_job_reads_only_its_own_latest_budget() {
    let server = TestServer::start().await;
    let mut budget = server.budget();
    budget
        .update_exploration_budget(update("other", 0.4, AdjustmentType::Initial))
        .await
        .unwrap();
    // A new job starts from its initial budget, not from another job's row.
    let first = budget
        .calculate_budget_adjustment(adjust("mine", 0.1))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(first.adjustment_type, AdjustmentType::Initial as i32);

    let global = budget
        .get_exploration_budget(pb::GetExplorationBudgetRequest {
            job_hash: Some(String::new()),
        })
        .await
        .unwrap()
        .into_inner()
        .budget
        .unwrap();
    assert_eq!(global.job_hash, "mine");
    let other = budget
        .get_exploration_budget(pb::GetExplorationBudgetRequest {
            job_hash: Some("other".into()),
        })
        .await
        .unwrap()
        .into_inner()
        .budget
        .unwrap();
    assert_eq!(other.budget_value, 0.4);
}

#[tokio::test]
async fn latest_is_the_last_written_even_with_equal_timestamps() {
    // Rows written straight into the file by another program.
    if !common::backend::require_sqlite("latest_is_the_last_written_even_with_equal_timestamps") {
        return;
    }
    let server = TestServer::start().await;
    {
        let sql = server.sql();
        for (id, value) in [("a", 0.1), ("b", 0.2), ("c", 0.3)] {
            sql.execute(
                "INSERT INTO exploration_budget (id, job_hash, recorded_at, budget_value, adjustment_type) \
                 VALUES (?1, 'tie', '2025-01-01T10:00:00', ?2, 'boost')",
                rusqlite::params![id, value],
            )
            .unwrap();
        }
    }
    let mut budget = server.budget();
    for filter in [Some("tie".to_string()), None] {
        let latest = budget
            .get_exploration_budget(pb::GetExplorationBudgetRequest {
                job_hash: filter.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .budget
            .unwrap();
        assert_eq!(latest.id, "c", "filter {filter:?}");
        let history = budget
            .get_exploration_budget_history(pb::GetExplorationBudgetHistoryRequest {
                job_hash: filter,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let ids: Vec<&str> = history.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a"]);
    }
    // The next adjustment builds on the last written row.
    let next = budget
        .calculate_budget_adjustment(adjust("tie", 0.1))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    approx(next.budget_value, 0.4);
}

#[tokio::test]
async fn history_pages_newest_first_and_filters_by_job() {
    let server = TestServer::start().await;
    let mut budget = server.budget();
    for i in 0..7 {
        let job = if i % 2 == 0 { "even" } else { "odd" };
        budget
            .update_exploration_budget(update(job, 0.1 + i as f64 / 100.0, AdjustmentType::Boost))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = budget
            .get_exploration_budget_history(pb::GetExplorationBudgetHistoryRequest {
                job_hash: None,
                limit: 3,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.records.len() <= 3);
        seen.extend(page.records.iter().map(|r| r.budget_value));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let expected: Vec<f64> = (0..7).rev().map(|i| 0.1 + i as f64 / 100.0).collect();
    assert_eq!(seen, expected);

    let even = budget
        .get_exploration_budget_history(pb::GetExplorationBudgetHistoryRequest {
            job_hash: Some("even".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(even.records.len(), 4);
    assert!(even.records.iter().all(|r| r.job_hash == "even"));
    assert!(even.next_page_token.is_empty());
}

#[tokio::test]
async fn statistics_match_the_spec_example_and_count_ceilings() {
    let server = TestServer::start().await;
    let mut budget = server.budget();
    // 0.15 initial, 0.25 boost, 0.20 decay, 0.01 decay -> 0.05 floor_enforced.
    budget
        .update_exploration_budget(update("J", 0.15, AdjustmentType::Initial))
        .await
        .unwrap();
    budget
        .update_exploration_budget(update("J", 0.25, AdjustmentType::Boost))
        .await
        .unwrap();
    budget
        .update_exploration_budget(update("J", 0.20, AdjustmentType::Decay))
        .await
        .unwrap();
    budget
        .update_exploration_budget(update("J", 0.01, AdjustmentType::Decay))
        .await
        .unwrap();
    budget
        .update_exploration_budget(update("K", 0.9, AdjustmentType::Boost))
        .await
        .unwrap();

    let stats = budget
        .get_exploration_budget_statistics(pb::GetExplorationBudgetStatisticsRequest {
            job_hash: Some("J".into()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.current_budget, Some(0.05));
    approx(stats.avg_budget, 0.1625);
    assert_eq!(stats.min_budget, 0.05);
    assert_eq!(stats.max_budget, 0.25);
    assert_eq!(stats.total_adjustments, 4);
    assert_eq!(stats.floor_enforcements, 1);
    assert_eq!(stats.boost_count, 1);
    assert_eq!(stats.decay_count, 1);
    assert_eq!(stats.initial_count, 1);
    assert_eq!(stats.ceiling_enforcements, 0);

    let all = budget
        .get_exploration_budget_statistics(pb::GetExplorationBudgetStatisticsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.total_adjustments, 5);
    assert_eq!(all.ceiling_enforcements, 1);
    assert_eq!(all.current_budget, Some(0.5));
    assert_eq!(all.max_budget, 0.5);
}
