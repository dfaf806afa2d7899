//! History retention, on either backend: old rows go in the background, a
//! job's latest budget and last response stay, and the statistics equal a
//! recount of what stays.

mod common;
mod served;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use common::{TestServer, backend};
use learning_service::{
    background::RetentionOptions,
    pb,
    server::ServerOptions,
    store::{Pruned, Retention, StoreOptions},
};

const OLD: &str = "2020-01-01T00:00:00";

/// Gives the record `uuid` the name `id` and, when `old`, an old time, as
/// an operator's SQL would (the counters do not depend on either).
fn rename(server: &TestServer, table: &str, uuid: &str, id: &str, old: bool) {
    let time_column = if table == "pattern_entropy_history" {
        "calculated_at"
    } else {
        "recorded_at"
    };
    let backdate = if old {
        format!(", {time_column} = '{OLD}'")
    } else {
        String::new()
    };
    let changed = server.execute(&format!(
        "UPDATE {table} SET id = '{id}'{backdate} WHERE id = '{uuid}'"
    ));
    assert_eq!(changed, 1, "{table} {uuid}");
}

async fn budget(server: &TestServer, id: &str, job: &str, old: bool, value: f64) {
    let record = server
        .budget()
        .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
            job_hash: job.into(),
            budget_value: value,
            adjustment_type: pb::AdjustmentType::Boost as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    rename(server, "exploration_budget", &record.id, id, old);
}

async fn response(server: &TestServer, id: &str, job: &str, old: bool, entropy: f64) {
    let record = server
        .entropy()
        .trigger_entropy_response(pb::TriggerEntropyResponseRequest {
            trigger: Some(pb::EntropyTriggerContext {
                job_hash: job.into(),
                entropy_at_trigger: entropy,
                threshold_used: 0.3,
                snapshot_id: None,
            }),
            config: Some(pb::EntropyResponseConfig {
                boost_budget: Some(false),
                revisit_quarantine: Some(false),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    rename(server, "entropy_responses", &record.id, id, old);
}

/// The store of `db`, written through the RPCs and then backdated.
async fn seed(db: &Path) {
    let server = TestServer::start_on(db.to_path_buf()).await;
    for n in 0..5 {
        budget(&server, &format!("a-old-{n}"), "job-a", true, 0.1).await;
    }
    budget(&server, "a-new-1", "job-a", false, 0.2).await;
    budget(&server, "a-new-2", "job-a", false, 0.3).await;
    for (n, value) in [0.5, 0.45, 0.4].into_iter().enumerate() {
        budget(&server, &format!("b-old-{n}"), "job-b", true, value).await;
    }
    for n in 0..10 {
        // Below the floor (0.05) they are stored as the floor.
        budget(
            &server,
            &format!("x-{n:02}"),
            "job-x",
            false,
            0.01 * n as f64,
        )
        .await;
    }
    for n in 0..3 {
        response(&server, &format!("ra-old-{n}"), "job-a", true, 0.05).await;
    }
    response(&server, "ra-new", "job-a", false, 0.1).await;
    response(&server, "rc-old-1", "job-c", true, 0.15).await;
    response(&server, "rc-old-2", "job-c", true, 0.2).await;
    for (n, old) in [true, true, true, true, false, false]
        .into_iter()
        .enumerate()
    {
        let recorded = server.record_snapshot(common::valid::metrics()).await;
        rename(
            &server,
            "pattern_entropy_history",
            &recorded.id,
            &format!("s-{n}"),
            old,
        );
    }
    server.stop().await;
}

/// A new store, seeded; the directory lives as long as the test holds it.
async fn seeded() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    seed(&db).await;
    (dir, db)
}

fn add(total: &mut Pruned, more: Pruned) {
    total.budget += more.budget;
    total.responses += more.responses;
    total.snapshots += more.snapshots;
}

fn recount(server: &TestServer, expression: &str, table: &str, job: Option<&str>) -> f64 {
    let scope = job.map_or(String::new(), |job| format!(" WHERE job_hash = '{job}'"));
    server
        .text(&format!(
            "SELECT CAST({expression} AS TEXT) FROM {table}{scope}"
        ))
        .parse()
        .unwrap()
}

/// The statistics RPCs against a recount of the rows kept.
async fn assert_statistics_equal_a_recount(server: &TestServer, jobs: &[&str]) {
    let mut client = server.budget();
    let scopes = jobs.iter().map(|job| Some(*job)).chain([None]);
    for job in scopes {
        let stats = client
            .get_exploration_budget_statistics(pb::GetExplorationBudgetStatisticsRequest {
                job_hash: job.map(str::to_owned),
            })
            .await
            .unwrap()
            .into_inner();
        let scope = job.map_or(String::new(), |job| format!(" AND job_hash = '{job}'"));
        let count = |condition: &str| {
            server.scalar(&format!(
                "SELECT COUNT(*) FROM exploration_budget WHERE {condition}{scope}"
            ))
        };
        assert_eq!(stats.total_adjustments, count("1 = 1"), "{job:?}");
        assert_eq!(
            stats.boost_count,
            count("adjustment_type = 'boost'"),
            "{job:?}"
        );
        assert_eq!(
            stats.floor_enforcements,
            count("adjustment_type = 'floor_enforced'"),
            "{job:?}"
        );
        let table = "exploration_budget";
        common::approx(
            stats.avg_budget,
            recount(server, "AVG(budget_value)", table, job),
        );
        common::approx(
            stats.min_budget,
            recount(server, "MIN(budget_value)", table, job),
        );
        common::approx(
            stats.max_budget,
            recount(server, "MAX(budget_value)", table, job),
        );
    }
    let responses = server
        .entropy()
        .get_entropy_response_statistics(pb::GetEntropyResponseStatisticsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        responses.total_responses,
        server.scalar("SELECT COUNT(*) FROM entropy_responses")
    );
    common::approx(
        responses.avg_entropy_at_trigger,
        recount(server, "AVG(entropy_at_trigger)", "entropy_responses", None),
    );
}

#[tokio::test]
async fn old_history_goes_and_the_latest_of_every_job_stays() {
    let (_dir, db) = seeded().await;
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
    common::wait_until("retention deleted the old rows", || {
        server.scalar("SELECT COUNT(*) FROM exploration_budget") == 2 + 1 + 3
            && server.scalar("SELECT COUNT(*) FROM entropy_responses") == 2
            && server.scalar("SELECT COUNT(*) FROM pattern_entropy_history") == 2
    })
    .await;
    assert_eq!(
        server.texts("SELECT id FROM exploration_budget ORDER BY id"),
        ["a-new-1", "a-new-2", "b-old-2", "x-07", "x-08", "x-09"],
        "job-b keeps its latest record although it is old; job-x its newest 3"
    );
    assert_eq!(
        server.texts("SELECT id FROM entropy_responses ORDER BY id"),
        ["ra-new", "rc-old-2"],
        "job-c keeps its last response: its cooldown is measured from it"
    );
    assert_eq!(
        server.texts("SELECT id FROM pattern_entropy_history ORDER BY id"),
        ["s-4", "s-5"]
    );

    // The statistics cover what is kept, exactly: the deleted minimum of
    // job-a (0.1), maximum of job-b and of all jobs (0.5), and the floor
    // values of job-x (every job's minimum) are gone from them too.
    let mut client = server.budget();
    for (job, total, avg, min, max) in [
        ("job-a", 2, 0.25, 0.2, 0.3),
        ("job-b", 1, 0.4, 0.4, 0.4),
        ("job-x", 3, 0.08, 0.07, 0.09),
    ] {
        let stats = client
            .get_exploration_budget_statistics(pb::GetExplorationBudgetStatisticsRequest {
                job_hash: Some(job.into()),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stats.total_adjustments, total, "{job}");
        common::approx(stats.avg_budget, avg);
        common::approx(stats.min_budget, min);
        common::approx(stats.max_budget, max);
    }
    let all = client
        .get_exploration_budget_statistics(pb::GetExplorationBudgetStatisticsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.total_adjustments, 6);
    common::approx(all.min_budget, 0.07);
    common::approx(all.max_budget, 0.4);
    assert_statistics_equal_a_recount(&server, &["job-a", "job-b", "job-x"]).await;
    let responses = server
        .entropy()
        .get_entropy_response_statistics(pb::GetEntropyResponseStatisticsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(responses.total_responses, 2);
    common::approx(responses.avg_entropy_at_trigger, 0.15);
    server.stop().await;
}

/// `serve` takes the retention flags over either backend (a PostgreSQL URL
/// too) and its background task deletes the old rows.
#[tokio::test]
async fn serve_runs_retention_from_its_flags() {
    let (_dir, db) = seeded().await;
    let location = match backend::chosen() {
        backend::Backend::Sqlite => db.clone(),
        backend::Backend::Postgres => backend::postgres_url_for(&backend::schema_for(&db))
            .await
            .into(),
    };
    let args = ["--retain-days", "30", "--retention-interval", "100ms"];
    let served = served::Served::start_on(&location, &args, &[]).await;
    let server = TestServer::start_on(db).await;
    common::wait_until("the served retention deleted the old rows", || {
        server.scalar("SELECT COUNT(*) FROM exploration_budget") == 2 + 1 + 10
            && server.scalar("SELECT COUNT(*) FROM entropy_responses") == 2
            && server.scalar("SELECT COUNT(*) FROM pattern_entropy_history") == 2
    })
    .await;
    assert_statistics_equal_a_recount(&server, &["job-a", "job-b", "job-x"]).await;
    served.stop().await;
    server.stop().await;
}

/// Two stores over one database (two replicas on PostgreSQL) prune at once,
/// in small batches: every old row goes once, the counters stay exact.
#[tokio::test]
async fn two_stores_pruning_at_once_keep_the_statistics_exact() {
    let (_dir, db) = seeded().await;
    let retention = Retention {
        before: Some(chrono::Utc::now() - chrono::Duration::days(30)),
        budget_rows_per_job: Some(3),
    };
    let mut prunes = Vec::new();
    for _ in 0..2 {
        let (store, _) = backend::open(&db, StoreOptions::default()).await;
        prunes.push(tokio::spawn(async move {
            let mut total = Pruned::default();
            loop {
                let pruned = store.prune_history(retention, 2).await.unwrap();
                if pruned.total() == 0 {
                    return total;
                }
                add(&mut total, pruned);
            }
        }));
    }
    let mut deleted = Pruned::default();
    for prune in prunes {
        add(&mut deleted, prune.await.unwrap());
    }
    assert_eq!(
        deleted,
        Pruned {
            budget: 20 - 6,
            responses: 6 - 2,
            snapshots: 4
        },
        "each row is deleted, and counted, once"
    );
    let server = TestServer::start_on(db).await;
    assert_eq!(
        server.texts("SELECT id FROM exploration_budget ORDER BY id"),
        ["a-new-1", "a-new-2", "b-old-2", "x-07", "x-08", "x-09"]
    );
    assert_statistics_equal_a_recount(&server, &["job-a", "job-b", "job-x"]).await;
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
    // What retention does: the older records go, the latest stays.
    let retention = Retention {
        before: None,
        budget_rows_per_job: Some(1),
    };
    let pruned = server.store().prune_history(retention, 500).await.unwrap();
    assert_eq!(pruned.budget, 2);
    assert_eq!(server.scalar("SELECT COUNT(*) FROM exploration_budget"), 1);
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
