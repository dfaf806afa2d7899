//! Store faults: clear UNAVAILABLE answers, grpc.health.v1 NOT_SERVING while
//! the store is unusable, and SERVING again once the fault is gone. The full
//! disk is simulated with SQLite's size limit (`PRAGMA max_page_count`) and the
//! read-only database with `PRAGMA query_only`, both on the write connection.

mod common;

use std::time::Duration;

use common::{TestServer, wait_for_health};
use learning_service::{pb, server::ServerOptions};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

const WITHIN: Duration = Duration::from_secs(10);

fn big_pattern(name: &str) -> pb::RecordPatternRequest {
    pb::RecordPatternRequest {
        pattern_type: "t".into(),
        pattern_name: name.into(),
        description: Some("d".repeat(4000)),
        ..Default::default()
    }
}

fn a_write() -> pb::UpdateExplorationBudgetRequest {
    pb::UpdateExplorationBudgetRequest {
        job_hash: "job".into(),
        budget_value: 0.2,
        adjustment_type: pb::AdjustmentType::Boost as i32,
        ..Default::default()
    }
}

async fn assert_all(server: &TestServer, expected: ServingStatus) {
    for service in [
        "",
        "learning.v1.BudgetService",
        "learning.v1.EntropyService",
        "learning.v1.PatternService",
    ] {
        wait_for_health(server, service, expected, WITHIN).await;
    }
}

#[tokio::test]
async fn a_full_database_is_unavailable_until_it_has_room_again() {
    let server = TestServer::probed_often().await;
    assert_all(&server, ServingStatus::Serving).await;
    let mut patterns = server.patterns();
    patterns
        .record_pattern(big_pattern("fills a page"))
        .await
        .unwrap();

    // The limit cannot go below the current size, so 1 means "no new page".
    server
        .sqlite()
        .execute_on_write_connection("PRAGMA max_page_count = 1")
        .await
        .unwrap();
    let full = patterns
        .record_pattern(big_pattern("needs a page"))
        .await
        .unwrap_err();
    assert_eq!(full.code(), Code::Unavailable, "{full:?}");
    assert!(full.message().contains("is full"), "{full:?}");
    assert!(
        !full.message().contains("database or disk is full"),
        "raw SQLite text: {full:?}"
    );
    assert_all(&server, ServingStatus::NotServing).await;

    server
        .sqlite()
        .execute_on_write_connection("PRAGMA max_page_count = 1000000")
        .await
        .unwrap();
    assert_all(&server, ServingStatus::Serving).await;
    patterns
        .record_pattern(big_pattern("needs a page"))
        .await
        .expect("room again");
    server.stop().await;
}

#[tokio::test]
async fn a_read_only_database_is_unavailable_and_not_serving() {
    let server = TestServer::probed_often().await;
    server
        .sqlite()
        .execute_on_write_connection("PRAGMA query_only = ON")
        .await
        .unwrap();
    let refused = server
        .budget()
        .update_exploration_budget(a_write())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("read-only"), "{refused:?}");
    assert_all(&server, ServingStatus::NotServing).await;
    // Reads still work.
    server
        .budget()
        .get_exploration_budget(pb::GetExplorationBudgetRequest::default())
        .await
        .expect("read");
    server.stop().await;
}

#[tokio::test]
async fn a_moved_or_replaced_file_stops_writes_until_it_is_back() {
    let server = TestServer::probed_often().await;
    let mut budget = server.budget();
    budget.update_exploration_budget(a_write()).await.unwrap();
    let moved = server.db.with_extension("moved");

    std::fs::rename(&server.db, &moved).unwrap();
    assert_all(&server, ServingStatus::NotServing).await;
    let refused = budget
        .update_exploration_budget(a_write())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("removed or renamed"),
        "{refused:?}"
    );
    // Side by side, so every read thread serves one, each on its connection.
    let reads = (0..32).map(|_| {
        let mut budget = server.budget();
        async move {
            budget
                .get_exploration_budget(pb::GetExplorationBudgetRequest::default())
                .await
        }
    });
    for latest in futures_util::future::join_all(reads).await {
        let latest = latest.expect("reads go on from the open file");
        assert!(latest.into_inner().budget.is_some());
    }

    std::fs::write(&server.db, b"").unwrap();
    wait_until_refused_with(&server, "replaced").await;
    std::fs::remove_file(&server.db).unwrap();

    std::fs::rename(&moved, &server.db).unwrap();
    assert_all(&server, ServingStatus::Serving).await;
    budget
        .update_exploration_budget(a_write())
        .await
        .expect("file is back");
    let rows: i64 = server
        .sql()
        .query_row("SELECT COUNT(*) FROM exploration_budget", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 2, "the refused write left nothing");
    server.stop().await;
}

async fn wait_until_refused_with(server: &TestServer, words: &str) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let answer = server.budget().update_exploration_budget(a_write()).await;
        match answer {
            Err(status) if status.message().contains(words) => {
                assert_eq!(status.code(), Code::Unavailable);
                return;
            }
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "not refused with {words:?}: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A write that fills the disk can make SQLite roll back the whole group
/// commit it shares with others: each of them must then be told it failed and
/// be absent from the file, not committed on its own behind the caller's back.
#[tokio::test]
async fn writes_grouped_with_a_full_disk_failure_are_answered_truthfully() {
    let server = TestServer::start_with(ServerOptions {
        health_check_interval: Duration::ZERO,
        ..ServerOptions::default()
    })
    .await;
    server
        .patterns()
        .record_pattern(big_pattern("fills a page"))
        .await
        .unwrap();
    server
        .sqlite()
        .execute_on_write_connection("PRAGMA max_page_count = 1")
        .await
        .unwrap();
    let blocker = server.sql();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

    // The writer takes `first` and waits for the lock; the other two queue up
    // and are committed together after it.
    let budget = |job: &'static str| {
        let mut client = server.budget();
        tokio::spawn(async move {
            client
                .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
                    job_hash: job.into(),
                    ..a_write()
                })
                .await
        })
    };
    let first = budget("first");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut patterns = server.patterns();
    let full =
        tokio::spawn(async move { patterns.record_pattern(big_pattern("needs a page")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let grouped = budget("grouped");
    tokio::time::sleep(Duration::from_millis(100)).await;
    blocker.execute_batch("COMMIT").unwrap();

    first.await.unwrap().expect("first write");
    let full = full.await.unwrap().unwrap_err();
    assert_eq!(full.code(), Code::Unavailable, "{full:?}");
    let grouped = grouped.await.unwrap();
    let stored: i64 = server
        .sql()
        .query_row(
            "SELECT COUNT(*) FROM exploration_budget WHERE job_hash = 'grouped'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    match grouped {
        Ok(_) => assert_eq!(stored, 1, "acknowledged but not stored"),
        Err(status) => {
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
            assert_eq!(stored, 0, "told it failed, but stored");
        }
    }
    server.stop().await;
}

/// A removed database file is noticed by the write itself, not by the next
/// health probe: no write is acknowledged into a file that is gone.
#[tokio::test]
async fn a_write_after_the_file_was_removed_is_refused_at_once() {
    let server = TestServer::start_with(ServerOptions {
        health_check_interval: Duration::from_secs(3600),
        ..ServerOptions::default()
    })
    .await;
    let mut budget = server.budget();
    budget.update_exploration_budget(a_write()).await.unwrap();
    std::fs::remove_file(&server.db).unwrap();
    let refused = budget
        .update_exploration_budget(a_write())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("removed"),
        "{}",
        refused.message()
    );
    assert!(
        !refused.message().contains(&server.db.display().to_string()),
        "the client is told a server path: {}",
        refused.message()
    );
}
