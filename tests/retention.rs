//! History retention: old rows go in the background, a job's latest budget
//! and last response stay, and the statistics equal a recount of what stays.

mod common;

use std::time::Duration;

use common::TestServer;
use learning_service::{background::RetentionOptions, pb, server::ServerOptions};

const OLD: &str = "2020-01-01T00:00:00";

fn seed(db: &std::path::Path) {
    learning_service::store::sqlite::SqliteStore::open(db, Default::default()).unwrap();
    let sql = rusqlite::Connection::open(db).unwrap();
    let now = chrono::Local::now()
        .naive_local()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let budget = |id: &str, job: &str, at: &str, value: f64| {
        sql.execute(
            "INSERT INTO exploration_budget (id, job_hash, recorded_at, budget_value, \
             adjustment_type) VALUES (?1, ?2, ?3, ?4, 'boost')",
            rusqlite::params![id, job, at, value],
        )
        .unwrap();
    };
    for n in 0..5 {
        budget(&format!("a-old-{n}"), "job-a", OLD, 0.1);
    }
    budget("a-new-1", "job-a", &now, 0.2);
    budget("a-new-2", "job-a", &now, 0.3);
    for n in 0..3 {
        budget(&format!("b-old-{n}"), "job-b", OLD, 0.4);
    }
    for n in 0..10 {
        budget(&format!("x-{n:02}"), "job-x", &now, 0.01 * n as f64);
    }
    let response = |id: &str, job: &str, at: &str| {
        sql.execute(
            "INSERT INTO entropy_responses (id, job_hash, recorded_at, entropy_at_trigger, \
             threshold_used, actions_taken, budget_boosted, quarantine_revisits, \
             patterns_revisited) VALUES (?1, ?2, ?3, 0.1, 0.3, '[]', 0, 0, '[]')",
            rusqlite::params![id, job, at],
        )
        .unwrap();
    };
    for n in 0..3 {
        response(&format!("ra-old-{n}"), "job-a", OLD);
    }
    response("ra-new", "job-a", &now);
    response("rc-old-1", "job-c", OLD);
    response("rc-old-2", "job-c", OLD);
    for (n, at) in [OLD, OLD, OLD, OLD, &now, &now].iter().enumerate() {
        sql.execute(
            "INSERT INTO pattern_entropy_history (id, calculated_at, shannon_entropy, \
             max_possible_entropy, diversity_index, unique_pattern_count, \
             effective_pattern_count, total_applications, dominant_pattern_share, \
             threshold_exceeded) VALUES (?1, ?2, 1, 1, 1, 2, 2, 2, 0.5, 0)",
            rusqlite::params![format!("s-{n}"), at],
        )
        .unwrap();
    }
}

fn ids(server: &TestServer, sql: &str) -> Vec<String> {
    let connection = server.sql();
    let mut statement = connection.prepare(sql).unwrap();
    statement
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn old_history_goes_and_the_latest_of_every_job_stays() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    seed(&db);
    let server = TestServer::start_on_with(
        db,
        ServerOptions {
            retention: Some(RetentionOptions {
                days: Some(30),
                budget_rows_per_job: Some(3),
                interval: Duration::from_millis(50),
            }),
            ..ServerOptions::default()
        },
    )
    .await;
    let count = |sql: &str| -> i64 { server.sql().query_row(sql, [], |r| r.get(0)).unwrap() };
    common::wait_until("retention deleted the old rows", || {
        count("SELECT COUNT(*) FROM exploration_budget") == 2 + 1 + 3
            && count("SELECT COUNT(*) FROM entropy_responses") == 2
            && count("SELECT COUNT(*) FROM pattern_entropy_history") == 2
    })
    .await;
    assert_eq!(
        ids(&server, "SELECT id FROM exploration_budget ORDER BY id"),
        ["a-new-1", "a-new-2", "b-old-2", "x-07", "x-08", "x-09"],
        "job-b keeps its latest record although it is old; job-x its newest 3"
    );
    assert_eq!(
        ids(&server, "SELECT id FROM entropy_responses ORDER BY id"),
        ["ra-new", "rc-old-2"],
        "job-c keeps its last response: its cooldown is measured from it"
    );

    // The statistics cover what is kept, exactly.
    let mut budget = server.budget();
    for (job, total, avg) in [("job-a", 2, 0.25), ("job-b", 1, 0.4), ("job-x", 3, 0.08)] {
        let stats = budget
            .get_exploration_budget_statistics(pb::GetExplorationBudgetStatisticsRequest {
                job_hash: Some(job.into()),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stats.total_adjustments, total, "{job}");
        common::approx(stats.avg_budget, avg);
    }
    let all = budget
        .get_exploration_budget_statistics(pb::GetExplorationBudgetStatisticsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.total_adjustments, 6);
    common::approx(all.min_budget, 0.07);
    let responses = server
        .entropy()
        .get_entropy_response_statistics(pb::GetEntropyResponseStatisticsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(responses.total_responses, 2);
    server.stop().await;
}

/// A page token whose records were deleted is OUT_OF_RANGE, not an empty
/// page that a client would read as the end of the list.
#[tokio::test]
async fn a_page_token_past_deleted_records_is_out_of_range() {
    let server = TestServer::start().await;
    let mut budget = server.budget();
    for value in [0.1, 0.2, 0.3] {
        budget
            .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
                job_hash: "job".into(),
                budget_value: value,
                adjustment_type: pb::AdjustmentType::Boost as i32,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let request = |page_token: String| pb::GetExplorationBudgetHistoryRequest {
        job_hash: Some("job".into()),
        limit: 1,
        page_token,
    };
    let first = budget
        .get_exploration_budget_history(request(String::new()))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.next_page_token.is_empty());
    server
        .sql()
        .execute(
            "DELETE FROM exploration_budget WHERE rowid < (SELECT MAX(rowid) FROM exploration_budget)",
            [],
        )
        .unwrap();
    let status = budget
        .get_exploration_budget_history(request(first.next_page_token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    assert!(
        status.message().starts_with("page_token:"),
        "{}",
        status.message()
    );
    server.stop().await;
}
