//! Watch/Subscribe streams: backfill, resume, slow readers, filters, progress,
//! pruned cursors, limits, shutdown and resources.

mod common;

use std::time::Duration;

use common::{TestServer, assert_invalid};
use learning_service::{
    pb::{
        self, subscribe_pattern_entropy_response::Event as SnapshotEvent,
        watch_entropy_responses_response::Event as ResponseEvent,
        watch_exploration_budget_response::Event as BudgetEvent,
    },
    server::ServerOptions,
};
use tokio::time::timeout;
use tonic::{Code, Streaming};

const WAIT: Duration = Duration::from_secs(20);

fn snapshot(diversity: f64, exceeded: bool) -> pb::RecordPatternEntropyRequest {
    pb::RecordPatternEntropyRequest {
        metrics: Some(pb::PatternEntropyMetrics {
            shannon_entropy: diversity,
            max_possible_entropy: 1.0,
            diversity_index: diversity,
            unique_pattern_count: 2,
            effective_pattern_count: 2,
            total_applications: 10,
            dominant_pattern_share: 0.5,
            threshold_exceeded: exceeded,
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

async fn record(server: &TestServer, diversity: f64) -> String {
    server
        .entropy()
        .record_pattern_entropy(snapshot(diversity, false))
        .await
        .unwrap()
        .into_inner()
        .id
}

async fn subscribe(
    server: &TestServer,
    request: pb::SubscribePatternEntropyRequest,
) -> Streaming<pb::SubscribePatternEntropyResponse> {
    server
        .entropy()
        .subscribe_pattern_entropy(request)
        .await
        .unwrap()
        .into_inner()
}

async fn next(
    stream: &mut Streaming<pb::SubscribePatternEntropyResponse>,
) -> pb::SubscribePatternEntropyResponse {
    timeout(WAIT, stream.message())
        .await
        .expect("a message in time")
        .expect("no error")
        .expect("stream open")
}

/// Reads snapshots until `count` arrived, skipping markers; returns (id, cursor).
async fn snapshots(
    stream: &mut Streaming<pb::SubscribePatternEntropyResponse>,
    count: usize,
) -> Vec<(String, String)> {
    let mut found = Vec::new();
    while found.len() < count {
        let message = next(stream).await;
        if let Some(SnapshotEvent::Snapshot(s)) = message.event {
            found.push((s.id, message.cursor));
        }
    }
    found
}

fn is_caught_up(message: &pb::SubscribePatternEntropyResponse) -> bool {
    matches!(message.event, Some(SnapshotEvent::CaughtUp(_)))
}

#[tokio::test]
async fn backfill_sends_the_most_recent_oldest_first_then_caught_up() {
    let server = TestServer::start().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(record(&server, i as f64 / 10.0).await);
    }
    let mut stream = subscribe(
        &server,
        pb::SubscribePatternEntropyRequest {
            backfill: Some(3),
            ..Default::default()
        },
    )
    .await;
    let got: Vec<String> = snapshots(&mut stream, 3)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(got, ids[2..].to_vec());
    assert!(is_caught_up(&next(&mut stream).await));

    let live = record(&server, 0.9).await;
    assert_eq!(snapshots(&mut stream, 1).await[0].0, live);

    // Without backfill: caught up at once, then only new snapshots.
    let mut fresh = subscribe(&server, Default::default()).await;
    assert!(is_caught_up(&next(&mut fresh).await));
    let after = record(&server, 0.8).await;
    assert_eq!(snapshots(&mut fresh, 1).await[0].0, after);
}

#[tokio::test]
async fn resume_delivers_exactly_what_was_written_meanwhile() {
    let server = TestServer::start().await;
    record(&server, 0.1).await;
    let mut stream = subscribe(&server, Default::default()).await;
    assert!(is_caught_up(&next(&mut stream).await));
    let first = record(&server, 0.2).await;
    let (id, cursor) = snapshots(&mut stream, 1).await.remove(0);
    assert_eq!(id, first);
    drop(stream);

    let mut meanwhile = Vec::new();
    for i in 0..25 {
        meanwhile.push(record(&server, i as f64 / 100.0).await);
    }
    let mut resumed = subscribe(
        &server,
        pb::SubscribePatternEntropyRequest {
            after_cursor: cursor,
            backfill: Some(2),
            ..Default::default()
        },
    )
    .await;
    // Exactly the records written meanwhile, then the caught-up marker.
    let mut got = Vec::new();
    loop {
        let message = next(&mut resumed).await;
        match message.event {
            Some(SnapshotEvent::Snapshot(s)) => got.push(s.id),
            Some(SnapshotEvent::CaughtUp(_)) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, meanwhile);
    // The shared tail skipped those rows while nobody streamed; it picks up
    // again from the end of the table, with nothing missed or repeated.
    let live = record(&server, 0.7).await;
    assert_eq!(snapshots(&mut resumed, 1).await[0].0, live);
    let more = record(&server, 0.6).await;
    assert_eq!(snapshots(&mut resumed, 1).await[0].0, more);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_that_does_not_read_still_receives_everything_in_order() {
    let server = TestServer::start().await;
    let mut stream = subscribe(&server, Default::default()).await;
    assert!(is_caught_up(&next(&mut stream).await));
    const WRITERS: usize = 16;
    const RECORDS: usize = 10_000;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let mut client = server.entropy();
        tasks.push(tokio::spawn(async move {
            for i in 0..RECORDS / WRITERS {
                client
                    .record_pattern_entropy(snapshot(((w * 1000 + i) % 100) as f64 / 100.0, false))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let expected = server.texts(&format!(
        "SELECT id FROM pattern_entropy_history ORDER BY {}",
        common::backend::position_column()
    ));
    assert_eq!(expected.len(), RECORDS);
    let got: Vec<String> = snapshots(&mut stream, RECORDS)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn filters_by_job_and_by_threshold() {
    let server = TestServer::start().await;
    let mut budget_stream = server
        .budget()
        .watch_exploration_budget(pb::WatchExplorationBudgetRequest {
            job_hash: Some("mine".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut response_stream = server
        .entropy()
        .watch_entropy_responses(pb::WatchEntropyResponsesRequest {
            job_hash: Some("mine".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut alerts = subscribe(
        &server,
        pb::SubscribePatternEntropyRequest {
            threshold_exceeded_only: true,
            ..Default::default()
        },
    )
    .await;
    for job in ["other", "mine", "other", "mine"] {
        server
            .entropy()
            .trigger_entropy_response(pb::TriggerEntropyResponseRequest {
                trigger: Some(pb::EntropyTriggerContext {
                    job_hash: job.into(),
                    entropy_at_trigger: 0.1,
                    threshold_used: 0.3,
                    snapshot_id: None,
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    server
        .entropy()
        .record_pattern_entropy(snapshot(0.9, false))
        .await
        .unwrap();
    let alert = server
        .entropy()
        .record_pattern_entropy(snapshot(0.1, true))
        .await
        .unwrap()
        .into_inner()
        .id;

    let mut budgets = Vec::new();
    while budgets.len() < 2 {
        let message = timeout(WAIT, budget_stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(BudgetEvent::Record(r)) = message.event {
            budgets.push(r);
        }
    }
    assert!(budgets.iter().all(|r| r.job_hash == "mine"));
    assert_eq!(
        (budgets[0].budget_value, budgets[1].budget_value),
        (0.25, 0.35)
    );
    let mut responses = Vec::new();
    while responses.len() < 2 {
        let message = timeout(WAIT, response_stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(ResponseEvent::Record(r)) = message.event {
            responses.push(r);
        }
    }
    assert!(responses.iter().all(|r| r.job_hash == "mine"));
    assert_eq!(snapshots(&mut alerts, 1).await[0].0, alert);

    // Backfill counts only matching rows.
    let mut backfilled = server
        .budget()
        .watch_exploration_budget(pb::WatchExplorationBudgetRequest {
            job_hash: Some("other".into()),
            backfill: Some(10),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut other = 0;
    loop {
        let message = timeout(WAIT, backfilled.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match message.event {
            Some(BudgetEvent::Record(r)) => {
                assert_eq!(r.job_hash, "other");
                other += 1;
            }
            Some(BudgetEvent::CaughtUp(_)) => break,
            _ => {}
        }
    }
    assert_eq!(other, 2);
}

#[tokio::test]
async fn a_quiet_stream_reports_progress_with_its_cursor() {
    let server = TestServer::start_with(ServerOptions {
        stream_progress_interval: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    record(&server, 0.5).await;
    let mut stream = subscribe(&server, Default::default()).await;
    let caught_up = next(&mut stream).await;
    assert!(is_caught_up(&caught_up));
    let progress = next(&mut stream).await;
    assert!(matches!(progress.event, Some(SnapshotEvent::Progress(_))));
    assert_eq!(progress.cursor, caught_up.cursor);
    let id = record(&server, 0.6).await;
    let (got, cursor) = snapshots(&mut stream, 1).await.remove(0);
    assert_eq!(got, id);
    let progress = next(&mut stream).await;
    assert!(matches!(progress.event, Some(SnapshotEvent::Progress(_))));
    assert_eq!(progress.cursor, cursor);
}

#[tokio::test]
async fn rows_written_by_another_program_are_streamed() {
    // Another program writing the SQLite file; on PostgreSQL the other
    // writers are replicas (tests/replicas.rs).
    if !common::backend::require_sqlite("rows_written_by_another_program_are_streamed") {
        return;
    }
    let server = TestServer::start().await;
    let mut stream = server
        .budget()
        .watch_exploration_budget(pb::WatchExplorationBudgetRequest::default())
        .await
        .unwrap()
        .into_inner();
    server
        .sql()
        .execute(
            "INSERT INTO exploration_budget (id, job_hash, recorded_at, budget_value, adjustment_type) \
             VALUES ('external', 'j', '2025-01-01T10:00:00', 0.2, 'boost')",
            [],
        )
        .unwrap();
    loop {
        let message = timeout(WAIT, stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(BudgetEvent::Record(r)) = message.event {
            assert_eq!(r.id, "external");
            break;
        }
    }
}

#[tokio::test]
async fn a_pruned_cursor_is_out_of_range_and_names_the_oldest_cursor() {
    let server = TestServer::start().await;
    let mut stream = subscribe(&server, Default::default()).await;
    next(&mut stream).await;
    for i in 0..5 {
        record(&server, i as f64 / 10.0).await;
    }
    let received = snapshots(&mut stream, 5).await;
    drop(stream);
    let old_cursor = received[1].1.clone();
    // Another program prunes the three oldest snapshots.
    server.execute(&format!(
        "DELETE FROM pattern_entropy_history WHERE {} <= 3",
        common::backend::position_column()
    ));
    let status = server
        .entropy()
        .subscribe_pattern_entropy(pb::SubscribePatternEntropyRequest {
            after_cursor: old_cursor,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange);
    let oldest = status.message().rsplit(' ').next().unwrap().to_string();
    assert!(
        status.message().starts_with("after_cursor:"),
        "{}",
        status.message()
    );
    let mut from_oldest = subscribe(
        &server,
        pb::SubscribePatternEntropyRequest {
            after_cursor: oldest,
            ..Default::default()
        },
    )
    .await;
    let rest: Vec<String> = snapshots(&mut from_oldest, 2)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(rest, vec![received[3].0.clone(), received[4].0.clone()]);
    // A cursor still inside the table keeps working.
    let mut fine = subscribe(
        &server,
        pb::SubscribePatternEntropyRequest {
            after_cursor: received[3].1.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(snapshots(&mut fine, 1).await[0].0, received[4].0);

    // A store reset (everything deleted) makes old cursors out of range too.
    server.execute("DELETE FROM pattern_entropy_history");
    let reset = server
        .entropy()
        .subscribe_pattern_entropy(pb::SubscribePatternEntropyRequest {
            after_cursor: received[4].1.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reset.code(), Code::OutOfRange);
}

#[tokio::test]
async fn bad_cursors_and_backfills_are_invalid() {
    let server = TestServer::start().await;
    let mut budget_stream = server
        .budget()
        .watch_exploration_budget(pb::WatchExplorationBudgetRequest::default())
        .await
        .unwrap()
        .into_inner();
    let budget_cursor = timeout(WAIT, budget_stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .cursor;
    for cursor in ["garbage", "%%%", budget_cursor.as_str()] {
        let status = server
            .entropy()
            .subscribe_pattern_entropy(pb::SubscribePatternEntropyRequest {
                after_cursor: cursor.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_invalid(&status, "after_cursor");
    }
    for backfill in [-1, 1001] {
        let status = server
            .entropy()
            .watch_entropy_responses(pb::WatchEntropyResponsesRequest {
                backfill: Some(backfill),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_invalid(&status, "backfill");
    }
}

#[tokio::test]
async fn subscribers_beyond_the_maximum_are_refused_until_one_leaves() {
    let server = TestServer::start_with(ServerOptions {
        max_subscribers: 3,
        ..Default::default()
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(subscribe(&server, Default::default()).await);
    }
    let refused = server
        .entropy()
        .subscribe_pattern_entropy(pb::SubscribePatternEntropyRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match server
            .entropy()
            .subscribe_pattern_entropy(pb::SubscribePatternEntropyRequest::default())
            .await
        {
            Ok(_) => break,
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted);
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "permit never released"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn shutdown_ends_every_stream_with_unavailable() {
    let server = TestServer::start().await;
    let mut stream = subscribe(&server, Default::default()).await;
    assert!(is_caught_up(&next(&mut stream).await));
    let stopping = tokio::spawn(server.stop());
    let ended = loop {
        match timeout(WAIT, stream.message())
            .await
            .expect("ended in time")
        {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("stream ended with OK"),
            Err(status) => break status,
        }
    };
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    timeout(WAIT, stopping)
        .await
        .expect("server stopped")
        .unwrap();
}
