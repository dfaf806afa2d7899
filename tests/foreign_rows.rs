//! Rows written by another program with values SQLite allows but the service
//! does not expect (text in a number column, blobs, invalid UTF-8, a whole
//! number with a fraction, NULLs in a file created without NOT NULL): every
//! read serves the other rows, statistics leave them out, and streams carry
//! on past them, also when resumed from a cursor before them.

mod common;

use std::time::Duration;

use common::{TestServer, approx};
use learning_service::{
    pb::{
        self, subscribe_pattern_entropy_response::Event as SnapshotEvent,
        watch_entropy_responses_response::Event as ResponseEvent,
        watch_exploration_budget_response::Event as BudgetEvent,
    },
    store::unreadable,
};
use tokio::time::timeout;
use tonic::Streaming;

const WAIT: Duration = Duration::from_secs(20);

const ORIGINAL_SCHEMA: &str = include_str!("fixtures/original_schema.sql");

/// Inserts a row into `table` with SQL, as another program would: `id`
/// and then `values`, the other columns as SQL expressions.
fn insert(server: &TestServer, table: &str, id: &str, values: &str) {
    server
        .sql()
        .execute(&format!("INSERT INTO {table} VALUES (?1, {values})"), [id])
        .unwrap_or_else(|e| panic!("insert a foreign row into {table}: {e}"));
}

/// A budget row; the arguments are SQL expressions.
fn insert_budget(server: &TestServer, id: &str, job: &str, at: &str, value: &str, entropy: &str) {
    let values = format!("{job}, {at}, {value}, {entropy}, 'boost', 'by another program'");
    insert(server, "exploration_budget", id, &values);
}

async fn record_budget(server: &TestServer, job: &str, value: f64) -> String {
    server
        .budget()
        .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
            job_hash: job.into(),
            budget_value: value,
            adjustment_type: pb::AdjustmentType::Boost as i32,
            ..Default::default()
        })
        .await
        .expect("update")
        .into_inner()
        .record
        .expect("record")
        .id
}

async fn budget_page(
    server: &TestServer,
    job: Option<&str>,
    limit: i32,
    page_token: String,
) -> pb::GetExplorationBudgetHistoryResponse {
    server
        .budget()
        .get_exploration_budget_history(pb::GetExplorationBudgetHistoryRequest {
            job_hash: job.map(Into::into),
            limit,
            page_token,
        })
        .await
        .expect("history despite foreign rows")
        .into_inner()
}

/// Every record of a list, page by page (`read(token)` answers a page).
async fn all_pages<T, F, Fut>(mut read: F) -> Vec<T>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = (Vec<T>, String)>,
{
    let (mut all, mut token) = (Vec::new(), String::new());
    loop {
        let (items, next) = read(token).await;
        all.extend(items);
        if next.is_empty() {
            return all;
        }
        token = next;
    }
}

/// The next message of a stream, failing on an error or a quiet stream.
async fn next<T>(stream: &mut Streaming<T>) -> T {
    timeout(WAIT, stream.message())
        .await
        .expect("a message in time")
        .expect("the stream goes on")
        .expect("the stream is open")
}

/// The ids `id` finds in the next messages of a stream until there are
/// `count` of them, skipping markers; fails when they do not all come in
/// time (progress markers alone must not keep a stuck stream waiting).
async fn record_ids<T>(
    stream: &mut Streaming<T>,
    count: usize,
    id: impl Fn(T) -> Option<String>,
) -> Vec<String> {
    let collect = async {
        let mut ids = Vec::new();
        while ids.len() < count {
            ids.extend(id(next(stream).await));
        }
        ids
    };
    timeout(WAIT, collect).await.expect("the records in time")
}

async fn budget_ids(
    stream: &mut Streaming<pb::WatchExplorationBudgetResponse>,
    count: usize,
) -> Vec<String> {
    record_ids(stream, count, |message| match message.event {
        Some(BudgetEvent::Record(record)) => Some(record.id),
        _ => None,
    })
    .await
}

async fn watch_budget(
    server: &TestServer,
    request: pb::WatchExplorationBudgetRequest,
) -> Streaming<pb::WatchExplorationBudgetResponse> {
    server
        .budget()
        .watch_exploration_budget(request)
        .await
        .expect("watch")
        .into_inner()
}

/// Waits for the caught-up marker (`cursor` of a marker is Some); returns its cursor.
async fn caught_up<T>(stream: &mut Streaming<T>, cursor: impl Fn(T) -> Option<String>) -> String {
    let wait = async {
        loop {
            if let Some(found) = cursor(next(stream).await) {
                return found;
            }
        }
    };
    timeout(WAIT, wait).await.expect("caught up in time")
}

fn budget_marker(message: pb::WatchExplorationBudgetResponse) -> Option<String> {
    matches!(message.event, Some(BudgetEvent::CaughtUp(_))).then_some(message.cursor)
}

#[tokio::test]
async fn budget_reads_and_watches_serve_the_rows_around_foreign_ones() {
    let server = TestServer::start().await;
    let skipped_before = unreadable::rows_skipped("exploration_budget");
    let first = record_budget(&server, "J", 0.2).await;
    let mut live = watch_budget(&server, Default::default()).await;
    let before_foreign = caught_up(&mut live, budget_marker).await;

    insert_budget(
        &server,
        "text-value",
        "'J'",
        "'2025-01-01T10:00:00'",
        "'abc'",
        "NULL",
    );
    insert_budget(
        &server,
        "bad-utf8-job",
        "CAST(x'4aff' AS TEXT)",
        "'2025-01-01T10:00:00'",
        "0.3",
        "NULL",
    );
    insert_budget(&server, "blob-time", "'J'", "x'00ff'", "0.35", "'high'");
    insert_budget(
        &server,
        "blob-value",
        "'J'",
        "'2025-01-01T10:00:00'",
        "x'01'",
        "NULL",
    );
    let after = record_budget(&server, "J", 0.25).await;

    // The live watch moves past the unreadable rows and keeps going.
    let readable = vec![
        "bad-utf8-job".to_owned(),
        "blob-time".to_owned(),
        after.clone(),
    ];
    assert_eq!(budget_ids(&mut live, 3).await, readable);
    // So does a watch resumed from before them, and a backfill over them.
    let mut resumed = watch_budget(
        &server,
        pb::WatchExplorationBudgetRequest {
            after_cursor: before_foreign,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(budget_ids(&mut resumed, 3).await, readable);
    let mut backfilled = watch_budget(
        &server,
        pb::WatchExplorationBudgetRequest {
            backfill: Some(6),
            ..Default::default()
        },
    )
    .await;
    let mut with_first = vec![first.clone()];
    with_first.extend(readable.iter().cloned());
    assert_eq!(budget_ids(&mut backfilled, 4).await, with_first);

    // The newest row is unreadable: "latest" is the newest readable one,
    // and an adjustment starts from it.
    insert_budget(
        &server,
        "newest-text",
        "'J'",
        "'2025-01-01T10:00:00'",
        "'abc'",
        "NULL",
    );
    let latest = server
        .budget()
        .get_exploration_budget(pb::GetExplorationBudgetRequest {
            job_hash: Some("J".into()),
        })
        .await
        .expect("latest despite a foreign newest row")
        .into_inner()
        .budget
        .expect("a readable record");
    assert_eq!(
        (latest.id.as_str(), latest.budget_value),
        (after.as_str(), 0.25)
    );

    // Values that cannot be read are absent; invalid UTF-8 is replaced.
    let at = &server;
    let everything = all_pages(move |token| async move {
        let page = budget_page(at, None, 2, token).await;
        (page.records, page.next_page_token)
    })
    .await;
    let ids: Vec<&str> = everything.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [after.as_str(), "blob-time", "bad-utf8-job", &first]);
    let blob_time = &everything[1];
    assert!(blob_time.recorded_at.is_none() && blob_time.entropy_at_time.is_none());
    assert_eq!(everything[2].job_hash, "J\u{fffd}");
    // A page of one over the job: as many pages as readable rows, none empty.
    let pages = all_pages(move |token| async move {
        let page = budget_page(at, Some("J"), 1, token).await;
        assert_eq!(page.records.len(), 1, "no empty or short page");
        (page.records, page.next_page_token)
    })
    .await;
    assert_eq!(pages.len(), 3);

    // Statistics count the readable rows only; their extremes are numbers.
    let statistics = server
        .budget()
        .get_exploration_budget_statistics(pb::GetExplorationBudgetStatisticsRequest::default())
        .await
        .expect("statistics despite foreign rows")
        .into_inner();
    assert_eq!(statistics.total_adjustments, 4);
    approx(statistics.avg_budget, (0.2 + 0.3 + 0.35 + 0.25) / 4.0);
    assert_eq!((statistics.min_budget, statistics.max_budget), (0.2, 0.35));
    assert_eq!(statistics.current_budget, Some(0.25));

    let adjusted = server
        .budget()
        .calculate_budget_adjustment(pb::CalculateBudgetAdjustmentRequest {
            job_hash: "J".into(),
            current_entropy: 0.9,
            ..Default::default()
        })
        .await
        .expect("an adjustment despite a foreign newest row")
        .into_inner()
        .record
        .expect("record");
    assert!(
        adjusted.budget_value < 0.25,
        "decayed from 0.25: {adjusted:?}"
    );
    // The watch is still alive and gets it, past the newest foreign row.
    assert_eq!(budget_ids(&mut live, 1).await, vec![adjusted.id]);
    assert!(unreadable::rows_skipped("exploration_budget") >= skipped_before + 3);
    server.stop().await;
}

/// A response row of job J; the arguments are SQL expressions.
fn insert_response(server: &TestServer, id: &str, entropy: &str, threshold: &str, rest: &str) {
    let values = format!("'J', '2025-01-01T10:00:00', {entropy}, {threshold}, {rest}");
    insert(server, "entropy_responses", id, &values);
}

async fn trigger(server: &TestServer) -> String {
    server
        .entropy()
        .trigger_entropy_response(pb::TriggerEntropyResponseRequest {
            trigger: Some(pb::EntropyTriggerContext {
                job_hash: "J".into(),
                entropy_at_trigger: 0.1,
                threshold_used: 0.3,
                snapshot_id: None,
            }),
            ..Default::default()
        })
        .await
        .expect("trigger")
        .into_inner()
        .record
        .expect("record")
        .id
}

async fn response_ids(
    stream: &mut Streaming<pb::WatchEntropyResponsesResponse>,
    count: usize,
) -> Vec<String> {
    record_ids(stream, count, |message| match message.event {
        Some(ResponseEvent::Record(record)) => Some(record.id),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn response_reads_and_watches_serve_the_rows_around_foreign_ones() {
    let server = TestServer::start().await;
    let first = trigger(&server).await;
    let mut live = server
        .entropy()
        .watch_entropy_responses(pb::WatchEntropyResponsesRequest::default())
        .await
        .expect("watch")
        .into_inner();
    let before_foreign = caught_up(&mut live, |message| {
        matches!(message.event, Some(ResponseEvent::CaughtUp(_))).then_some(message.cursor)
    })
    .await;
    insert_response(&server, "text-entropy", "'high'", "0.3", "'[]', 0, 0, NULL");
    insert_response(
        &server,
        "blob-threshold",
        "0.1",
        "x'00'",
        "'[]', 0, 0, NULL",
    );
    // Readable, with odd values in the columns that have defaults.
    insert_response(
        &server,
        "odd-extras",
        "0.2",
        "0.3",
        "x'ff', 'yes', 'many', '{}'",
    );
    let after = trigger(&server).await;
    let readable = vec!["odd-extras".to_owned(), after.clone()];
    assert_eq!(response_ids(&mut live, 2).await, readable);
    let mut resumed = server
        .entropy()
        .watch_entropy_responses(pb::WatchEntropyResponsesRequest {
            after_cursor: before_foreign,
            ..Default::default()
        })
        .await
        .expect("resume")
        .into_inner();
    assert_eq!(response_ids(&mut resumed, 2).await, readable);

    insert_response(&server, "newest-text", "'high'", "0.3", "'[]', 0, 0, NULL");
    let mut entropy = server.entropy();
    let last = entropy
        .get_last_entropy_response(pb::GetLastEntropyResponseRequest::default())
        .await
        .expect("last despite a foreign newest row")
        .into_inner()
        .response
        .expect("a readable response");
    assert_eq!(last.id, after);
    let history = all_pages(|token| {
        let mut entropy = server.entropy();
        async move {
            let page = entropy
                .get_entropy_response_history(pb::GetEntropyResponseHistoryRequest {
                    limit: 1,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .expect("history despite foreign rows")
                .into_inner();
            (page.records, page.next_page_token)
        }
    })
    .await;
    let ids: Vec<&str> = history.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [after.as_str(), "odd-extras", &first]);
    let odd = &history[1];
    assert!(
        odd.budget_boosted,
        "'yes' is true to SQLite, as the aggregates count it"
    );
    assert_eq!(odd.quarantine_revisits, 0);
    assert!(odd.actions_taken.is_empty() && odd.patterns_revisited.is_empty());

    let statistics = entropy
        .get_entropy_response_statistics(pb::GetEntropyResponseStatisticsRequest::default())
        .await
        .expect("statistics despite foreign rows")
        .into_inner();
    assert_eq!(statistics.total_responses, 3);
    approx(statistics.avg_entropy_at_trigger, (0.1 + 0.2 + 0.1) / 3.0);
    server.stop().await;
}

/// A snapshot row; the arguments are SQL expressions.
fn insert_snapshot(server: &TestServer, id: &str, at: &str, shannon: &str, unique: &str) {
    let values = format!("{at}, {shannon}, 1.0, 0.5, {unique}, 2, 10, 0.5, 'yes'");
    insert(server, "pattern_entropy_history", id, &values);
}

async fn record_snapshot(server: &TestServer) -> String {
    server
        .entropy()
        .record_pattern_entropy(pb::RecordPatternEntropyRequest {
            metrics: Some(pb::PatternEntropyMetrics {
                shannon_entropy: 0.5,
                max_possible_entropy: 1.0,
                diversity_index: 0.5,
                unique_pattern_count: 2,
                effective_pattern_count: 2,
                total_applications: 10,
                dominant_pattern_share: 0.5,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .expect("record")
        .into_inner()
        .id
}

async fn snapshot_ids(
    stream: &mut Streaming<pb::SubscribePatternEntropyResponse>,
    count: usize,
) -> Vec<String> {
    record_ids(stream, count, |message| match message.event {
        Some(SnapshotEvent::Snapshot(snapshot)) => Some(snapshot.id),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn snapshot_history_and_subscriptions_serve_the_rows_around_foreign_ones() {
    let server = TestServer::start().await;
    let skipped_before = unreadable::rows_skipped("pattern_entropy_history");
    let first = record_snapshot(&server).await;
    let mut live = server
        .entropy()
        .subscribe_pattern_entropy(pb::SubscribePatternEntropyRequest::default())
        .await
        .expect("subscribe")
        .into_inner();
    let before_foreign = caught_up(&mut live, |message| {
        matches!(message.event, Some(SnapshotEvent::CaughtUp(_))).then_some(message.cursor)
    })
    .await;
    let now = "strftime('%Y-%m-%dT%H:%M:%S', 'now', 'localtime')";
    insert_snapshot(&server, "fractional-count", now, "0.5", "3.5");
    insert_snapshot(&server, "text-entropy", now, "'abc'", "2");
    insert_snapshot(&server, "blob-time", "x'01'", "0.5", "2");
    insert_snapshot(&server, "number-time", "1700000000", "0.5", "2");
    // Readable, with a text flag.
    insert_snapshot(&server, "text-flag", now, "0.5", "2");
    let after = record_snapshot(&server).await;
    let readable = vec!["text-flag".to_owned(), after.clone()];
    assert_eq!(snapshot_ids(&mut live, 2).await, readable);
    let mut resumed = server
        .entropy()
        .subscribe_pattern_entropy(pb::SubscribePatternEntropyRequest {
            after_cursor: before_foreign,
            ..Default::default()
        })
        .await
        .expect("resume")
        .into_inner();
    assert_eq!(snapshot_ids(&mut resumed, 2).await, readable);
    // The foreign flag 'yes' counts as exceeded, for the filter as for the record.
    let mut exceeded = server
        .entropy()
        .subscribe_pattern_entropy(pb::SubscribePatternEntropyRequest {
            backfill: Some(10),
            threshold_exceeded_only: true,
            ..Default::default()
        })
        .await
        .expect("subscribe")
        .into_inner();
    assert_eq!(snapshot_ids(&mut exceeded, 1).await, vec!["text-flag"]);

    let history = all_pages(|token| {
        let mut entropy = server.entropy();
        async move {
            let page = entropy
                .get_pattern_entropy_history(pb::GetPatternEntropyHistoryRequest {
                    limit: 1,
                    page_token: token,
                })
                .await
                .expect("history despite foreign rows")
                .into_inner();
            (page.records, page.next_page_token)
        }
    })
    .await;
    let mut ids: Vec<&str> = history.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    let mut expected = vec![first.as_str(), after.as_str(), "text-flag"];
    expected.sort();
    assert_eq!(ids, expected, "each readable snapshot once");
    let flagged = history.iter().find(|r| r.id == "text-flag").unwrap();
    assert!(flagged.threshold_exceeded);
    assert!(unreadable::rows_skipped("pattern_entropy_history") >= skipped_before + 4);
    server.stop().await;
}

/// A file whose tables were created without NOT NULL (by another program),
/// so that NULL can stand anywhere.
fn lax_file(path: &std::path::Path) {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection
        .execute_batch(&ORIGINAL_SCHEMA.replace(" NOT NULL", ""))
        .unwrap();
    connection
        .execute("INSERT OR IGNORE INTO schema_version VALUES (15)", [])
        .unwrap();
}

#[tokio::test]
async fn nulls_in_a_file_without_not_null_leave_out_only_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    lax_file(&db);
    let server = TestServer::start_on(db).await;
    let good = record_budget(&server, "J", 0.2).await;
    // Inserts of other programs still succeed: the aggregate triggers skip these rows.
    let sql = server.sql();
    sql.execute_batch(
        "INSERT INTO exploration_budget VALUES (NULL, 'J', '2025-01-01T10:00:00', 0.3, NULL, 'boost', NULL);
         INSERT INTO exploration_budget VALUES ('no-job', NULL, '2025-01-01T10:00:00', 0.3, NULL, 'boost', NULL);
         INSERT INTO exploration_budget VALUES ('no-value', 'J', '2025-01-01T10:00:00', NULL, NULL, 'boost', NULL);
         INSERT INTO exploration_budget VALUES ('no-type', 'J', NULL, 0.3, NULL, NULL, NULL);
         INSERT INTO exploration_budget VALUES ('no-time', 'J', NULL, 0.4, NULL, 'decay', NULL);
         INSERT INTO entropy_responses VALUES ('no-entropy', 'J', NULL, NULL, 0.3, NULL, NULL, NULL, NULL);
         INSERT INTO pattern_entropy_history VALUES ('no-time', NULL, 0.5, 1, 0.5, 2, 2, 10, 0.5, NULL);
         INSERT INTO patterns (id, pattern_type, pattern_name, quarantine_status)
             VALUES ('no-type', NULL, 'n', 'quarantined'), (NULL, 't', 'no id', 'quarantined'),
                    (42, 't', 'number id', 'quarantined'), ('fine', 't', x'6e616d65', 'pending');
         UPDATE patterns SET led_to_success_count = 'many', active = NULL, first_seen = x'00'
             WHERE id = 'fine';",
    )
    .expect("foreign inserts succeed");

    let history = budget_page(&server, None, 10, String::new()).await.records;
    let ids: Vec<&str> = history.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["no-time", &good]);
    let statistics = server
        .budget()
        .get_exploration_budget_statistics(pb::GetExplorationBudgetStatisticsRequest {
            job_hash: Some("J".into()),
        })
        .await
        .expect("statistics")
        .into_inner();
    assert_eq!(statistics.total_adjustments, 2);
    assert_eq!((statistics.min_budget, statistics.max_budget), (0.2, 0.4));
    let responses = server
        .entropy()
        .get_entropy_response_statistics(pb::GetEntropyResponseStatisticsRequest::default())
        .await
        .expect("statistics")
        .into_inner();
    assert_eq!(responses.total_responses, 0);
    let snapshots = server
        .entropy()
        .get_pattern_entropy_history(pb::GetPatternEntropyHistoryRequest::default())
        .await
        .expect("history")
        .into_inner();
    assert!(snapshots.records.is_empty());

    let patterns = server
        .patterns()
        .list_patterns(pb::ListPatternsRequest::default())
        .await
        .expect("list despite foreign rows")
        .into_inner()
        .patterns;
    let names: Vec<&str> = patterns.iter().map(|p| p.pattern_name.as_str()).collect();
    assert_eq!(names, ["number id", "name"]);
    assert_eq!(patterns[0].id, "42");
    let fine = &patterns[1];
    assert_eq!(fine.led_to_success_count, 0);
    assert!(fine.active && fine.first_seen.is_none());

    // A response revisits the quarantined patterns it can name.
    let revisited = server
        .entropy()
        .trigger_entropy_response(pb::TriggerEntropyResponseRequest {
            trigger: Some(pb::EntropyTriggerContext {
                job_hash: "J".into(),
                entropy_at_trigger: 0.1,
                threshold_used: 0.3,
                snapshot_id: None,
            }),
            config: Some(pb::EntropyResponseConfig {
                max_quarantine_revisits: Some(10),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("a trigger despite foreign patterns")
        .into_inner()
        .record
        .expect("record")
        .patterns_revisited;
    let mut revisited: Vec<&str> = revisited.iter().map(String::as_str).collect();
    revisited.sort();
    assert_eq!(revisited, ["42", "no-type"]);
    server.stop().await;
}
