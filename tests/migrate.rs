//! `learning-service migrate`: a SQLite store (one written by the service,
//! and one written by the original Python store) copied into PostgreSQL
//! answers every read as the SQLite one does; a second run copies nothing; a
//! run killed with SIGKILL resumes where it stopped. Runs with
//! LEARNING_TEST_BACKEND=postgres (a real database), like the other
//! PostgreSQL tests.

mod common;

use std::{
    path::Path,
    process::{Command, Output, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use common::backend::{self, Backend};
use learning_service::{
    pb::{
        self, budget_service_client::BudgetServiceClient,
        entropy_service_client::EntropyServiceClient, pattern_service_client::PatternServiceClient,
        watch_exploration_budget_response::Event,
    },
    server::{self, ServerOptions},
    store::{Store, StoreLocation, StoreOptions},
};
use tokio::{net::TcpListener, sync::oneshot};
use tonic::transport::Channel;

const BINARY: &str = env!("CARGO_BIN_EXE_learning-service");
const ORIGINAL_SCHEMA: &str = include_str!("fixtures/original_schema.sql");
const EARLIER_EXPLANATIONS: &str = include_str!("fixtures/explanations_keyed_by_id.sql");

/// These tests need PostgreSQL: they run when the suite runs against it
/// (where a missing URL fails them), and say so otherwise.
fn require_postgres(test: &str) -> bool {
    let postgres = backend::chosen() == Backend::Postgres;
    if !postgres {
        eprintln!("{test}: needs LEARNING_TEST_BACKEND=postgres; not run against SQLite");
    }
    postgres
}

/// A server over the store at `location` (a path or a postgres:// URL).
struct Served {
    channel: Channel,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    store: Arc<dyn Store>,
}

async fn serve(location: &str) -> Served {
    let location: StoreLocation = location.parse().expect("store location");
    let store = learning_service::store::open(&location, StoreOptions::default())
        .await
        .expect("open the store");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = store.clone();
    let task = tokio::spawn(async move {
        server::serve(served, listener, ServerOptions::default(), async {
            let _ = stopped.await;
        })
        .await
        .expect("serve");
    });
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_lazy();
    Served {
        channel,
        stop,
        task,
        store,
    }
}

impl Served {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        self.store.close(Duration::from_secs(10));
    }
}

/// A database (a schema of the test database) of its own for `dir`.
async fn postgres_url(dir: &Path) -> String {
    backend::postgres_url_for(&backend::schema_for(&dir.join("target"))).await
}

fn migrate(from: &Path, to: &str, extra: &[&str]) -> Output {
    let output = Command::new(BINARY)
        .args(["migrate", "--from"])
        .arg(from)
        .args(["--to", to])
        .args(extra)
        .output()
        .expect("run migrate");
    eprintln!(
        "migrate: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The copied/left-out figures of one table in migrate's summary.
fn summary_line(output: &Output, table: &str) -> String {
    stdout(output)
        .lines()
        .find(|line| line.trim_start().starts_with(&format!("{table} ")))
        .unwrap_or_else(|| panic!("no summary line for {table}"))
        .split_whitespace()
        .skip(1)
        .collect::<Vec<_>>()
        .join(" ")
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read the SQLite file")
}

/// Everything the read RPCs answer about `jobs`, without what depends on the
/// backend (cursors, page tokens) or on the time of the call.
#[derive(Debug, PartialEq)]
struct Answers {
    latest: Vec<Option<pb::ExplorationBudgetRecord>>,
    budget_history: Vec<Vec<pb::ExplorationBudgetRecord>>,
    budget_statistics: Vec<pb::GetExplorationBudgetStatisticsResponse>,
    last_response: Vec<Option<pb::EntropyResponseRecord>>,
    response_history: Vec<Vec<pb::EntropyResponseRecord>>,
    response_statistics: Vec<pb::GetEntropyResponseStatisticsResponse>,
    snapshots: Vec<pb::PatternEntropyMetrics>,
    entropy: pb::PatternEntropyMetrics,
    /// The last hour's, of all patterns and of one type (the buckets).
    windowed: Vec<pb::PatternEntropyMetrics>,
    patterns: Vec<pb::Pattern>,
    quarantined: Vec<pb::Pattern>,
    watched: Vec<pb::ExplorationBudgetRecord>,
}

async fn answers(channel: &Channel, jobs: &[&str]) -> Answers {
    let mut budget = BudgetServiceClient::new(channel.clone());
    let mut entropy = EntropyServiceClient::new(channel.clone());
    let mut patterns = PatternServiceClient::new(channel.clone());
    let filters: Vec<Option<String>> = jobs
        .iter()
        .map(|job| Some(job.to_string()))
        .chain([None])
        .collect();
    let mut answers = Answers {
        latest: vec![],
        budget_history: vec![],
        budget_statistics: vec![],
        last_response: vec![],
        response_history: vec![],
        response_statistics: vec![],
        snapshots: vec![],
        entropy: Default::default(),
        windowed: vec![],
        patterns: vec![],
        quarantined: vec![],
        watched: vec![],
    };
    for job in filters {
        let request = pb::GetExplorationBudgetRequest {
            job_hash: job.clone(),
        };
        let latest = budget.get_exploration_budget(request).await.unwrap();
        answers.latest.push(latest.into_inner().budget);
        let request = pb::GetExplorationBudgetHistoryRequest {
            job_hash: job.clone(),
            limit: 1000,
            page_token: String::new(),
        };
        let history = budget
            .get_exploration_budget_history(request)
            .await
            .unwrap();
        answers.budget_history.push(history.into_inner().records);
        let request = pb::GetExplorationBudgetStatisticsRequest {
            job_hash: job.clone(),
        };
        let statistics = budget.get_exploration_budget_statistics(request);
        answers
            .budget_statistics
            .push(statistics.await.unwrap().into_inner());
        let request = pb::GetLastEntropyResponseRequest {
            job_hash: job.clone(),
        };
        let last = entropy.get_last_entropy_response(request).await.unwrap();
        answers.last_response.push(last.into_inner().response);
        let request = pb::GetEntropyResponseHistoryRequest {
            job_hash: job.clone(),
            limit: 1000,
            page_token: String::new(),
        };
        let history = entropy.get_entropy_response_history(request).await.unwrap();
        answers.response_history.push(history.into_inner().records);
        let request = pb::GetEntropyResponseStatisticsRequest { job_hash: job };
        let statistics = entropy.get_entropy_response_statistics(request).await;
        answers
            .response_statistics
            .push(statistics.unwrap().into_inner());
    }
    let request = pb::GetPatternEntropyHistoryRequest {
        limit: 1000,
        page_token: String::new(),
    };
    let snapshots = entropy.get_pattern_entropy_history(request).await.unwrap();
    answers.snapshots = snapshots.into_inner().records;
    let request = pb::CalculatePatternEntropyRequest {
        alert_threshold: Some(0.5),
        ..Default::default()
    };
    let calculated = entropy.calculate_pattern_entropy(request).await.unwrap();
    let mut metrics = calculated.into_inner().metrics.unwrap();
    metrics.calculated_at = None; // now, on each server
    answers.entropy = metrics;
    for pattern_type in [None, Some("retry".to_owned())] {
        let request = pb::CalculatePatternEntropyRequest {
            alert_threshold: Some(0.5),
            window: Some(prost_types::Duration {
                seconds: 3600,
                nanos: 0,
            }),
            pattern_type,
            ..Default::default()
        };
        let calculated = entropy.calculate_pattern_entropy(request).await.unwrap();
        let mut metrics = calculated.into_inner().metrics.unwrap();
        metrics.calculated_at = None;
        answers.windowed.push(metrics);
    }
    for (status, into) in [
        (None, &mut answers.patterns),
        (
            Some(pb::QuarantineStatus::Quarantined as i32),
            &mut answers.quarantined,
        ),
    ] {
        let request = pb::ListPatternsRequest {
            status,
            limit: 1000,
            page_token: String::new(),
        };
        *into = patterns
            .list_patterns(request)
            .await
            .unwrap()
            .into_inner()
            .patterns;
    }
    let request = pb::WatchExplorationBudgetRequest {
        job_hash: None,
        backfill: Some(1000),
        after_cursor: String::new(),
    };
    let mut stream = budget
        .watch_exploration_budget(request)
        .await
        .unwrap()
        .into_inner();
    while let Some(message) = stream.message().await.unwrap() {
        match message.event {
            Some(Event::Record(record)) => answers.watched.push(record),
            Some(Event::CaughtUp(_)) => break,
            _ => {}
        }
    }
    answers
}

fn assert_same(sqlite: &Answers, postgres: &Answers) {
    // Field by field first, for a readable failure.
    assert_eq!(sqlite.budget_history, postgres.budget_history);
    assert_eq!(sqlite.budget_statistics, postgres.budget_statistics);
    assert_eq!(sqlite.response_history, postgres.response_history);
    assert_eq!(sqlite.response_statistics, postgres.response_statistics);
    assert_eq!(sqlite.snapshots, postgres.snapshots);
    assert_eq!(sqlite.entropy, postgres.entropy);
    assert_eq!(sqlite.windowed, postgres.windowed);
    assert_eq!(sqlite.patterns, postgres.patterns);
    assert_eq!(sqlite, postgres);
}

const JOBS: [&str; 3] = ["job-a", "job-b", "job-c"];

/// A store written by the service: patterns (some quarantined), their
/// applications, adjustments of three jobs, responses, snapshots.
async fn write_history(channel: &Channel) {
    let mut budget = BudgetServiceClient::new(channel.clone());
    let mut entropy = EntropyServiceClient::new(channel.clone());
    let mut patterns = PatternServiceClient::new(channel.clone());
    let mut ids = Vec::new();
    for n in 0..6 {
        let status = if n % 3 == 0 {
            pb::QuarantineStatus::Quarantined
        } else {
            pb::QuarantineStatus::Validated
        };
        // Two types, so that a scoped window leaves some out.
        let pattern_type = if n % 2 == 0 { "retry" } else { "fallback" };
        let request = pb::RecordPatternRequest {
            pattern_type: pattern_type.into(),
            pattern_name: format!("pattern-{n}"),
            description: Some(format!("the {n}th")),
            quarantine_status: Some(status as i32),
            request_id: String::new(),
            instrument_name: Some(format!("instrument-{}", n % 3)),
        };
        let pattern = patterns.record_pattern(request).await.unwrap();
        ids.push(pattern.into_inner().pattern.unwrap().id);
    }
    for n in 0..40usize {
        let request = pb::RecordPatternApplicationRequest {
            pattern_id: ids[n * n % ids.len()].clone(),
            execution_id: format!("exec-{n}"),
            pattern_led_to_success: n % 4 != 0,
            request_id: String::new(),
        };
        patterns.record_pattern_application(request).await.unwrap();
    }
    for n in 0..60usize {
        let job = JOBS[n % JOBS.len()];
        // Entropies that alternate boosts and decays, and reach the bounds.
        let current_entropy = [0.05, 0.9, 0.12, 0.0, 0.7][n % 5] + (n as f64) * 1e-3;
        let request = pb::CalculateBudgetAdjustmentRequest {
            job_hash: job.into(),
            current_entropy,
            ..Default::default()
        };
        budget.calculate_budget_adjustment(request).await.unwrap();
        if n % 17 == 0 {
            let request = pb::UpdateExplorationBudgetRequest {
                job_hash: job.into(),
                budget_value: 0.3 + n as f64 / 1000.0,
                adjustment_type: pb::AdjustmentType::Boost as i32,
                entropy_at_time: None,
                adjustment_reason: Some("set by hand".into()),
                ..Default::default()
            };
            budget.update_exploration_budget(request).await.unwrap();
        }
        if n % 11 == 0 {
            let request = pb::TriggerEntropyResponseRequest {
                trigger: Some(pb::EntropyTriggerContext {
                    job_hash: job.into(),
                    entropy_at_trigger: 0.1 + n as f64 / 7000.0,
                    threshold_used: 0.3,
                    snapshot_id: None,
                }),
                config: Some(pb::EntropyResponseConfig {
                    max_quarantine_revisits: Some(1),
                    ..Default::default()
                }),
                ..Default::default()
            };
            entropy.trigger_entropy_response(request).await.unwrap();
        }
        if n % 9 == 0 {
            let calculated = entropy
                .calculate_pattern_entropy(pb::CalculatePatternEntropyRequest {
                    alert_threshold: Some(0.9),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .metrics;
            let request = pb::RecordPatternEntropyRequest {
                metrics: calculated,
                request_id: String::new(),
            };
            entropy.record_pattern_entropy(request).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrated_store_answers_as_the_sqlite_one_and_a_second_run_copies_nothing() {
    if !require_postgres("migrate") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    let db_text = db.to_str().unwrap().to_owned();
    let sqlite = serve(&db_text).await;
    write_history(&sqlite.channel).await;
    let expected = answers(&sqlite.channel, &JOBS).await;
    sqlite.stop().await;
    assert!(
        expected.budget_history[3].len() > 60,
        "the history is there"
    );
    // What the comparisons below must find copied, so that they cannot
    // pass on absent values: explanations, snapshots' diversity, buckets.
    let explained = |records: &[pb::ExplorationBudgetRecord]| {
        records.iter().filter(|r| r.explanation.is_some()).count()
    };
    assert_eq!(
        explained(&expected.budget_history[3]),
        expected.budget_history[3].len()
    );
    assert!(
        expected.response_history[3]
            .iter()
            .all(|r| r.explanation.is_some())
            && !expected.response_history[3].is_empty()
    );
    assert!(
        !expected.snapshots.is_empty()
            && expected
                .snapshots
                .iter()
                .all(|s| s.perplexity.is_some() && s.inverse_simpson.is_some())
    );
    let [all, retry] = &expected.windowed[..] else {
        panic!("two windowed readings")
    };
    assert_eq!(all.total_applications, 40);
    assert!((1..40).contains(&retry.total_applications), "{retry:?}");

    let before = file_bytes(&db);
    let url = postgres_url(dir.path()).await;
    let first = migrate(&db, &url, &["--batch-size", "7"]);
    assert!(first.status.success());
    assert_eq!(file_bytes(&db), before, "the SQLite file is left untouched");
    assert!(stdout(&first).contains("counts verified"));
    let budget_rows = expected.budget_history[3].len();
    assert_eq!(
        summary_line(&first, "exploration_budget"),
        format!("{budget_rows} copied, 0 already there, 0 left out (unreadable)")
    );
    assert_eq!(
        summary_line(&first, "pattern_applications"),
        "40 copied, 0 already there, 0 left out (unreadable)"
    );

    let postgres = serve(&url).await;
    assert_same(&expected, &answers(&postgres.channel, &JOBS).await);

    // A second run copies nothing, and the store still answers the same.
    let second = migrate(&db, &url, &[]);
    assert!(second.status.success());
    for table in [
        "patterns",
        "pattern_applications",
        "exploration_budget",
        "entropy_responses",
        "pattern_entropy_history",
    ] {
        assert_eq!(
            summary_line(&second, table),
            "0 copied, 0 already there, 0 left out (unreadable)"
        );
    }
    assert_same(&expected, &answers(&postgres.channel, &JOBS).await);

    // The migrated store goes on where the SQLite one stopped: the next
    // adjustment starts from the copied latest value, on both.
    let next = |channel: &Channel| {
        let mut budget = BudgetServiceClient::new(channel.clone());
        async move {
            let request = pb::CalculateBudgetAdjustmentRequest {
                job_hash: "job-a".into(),
                current_entropy: 0.2,
                ..Default::default()
            };
            let record = budget.calculate_budget_adjustment(request).await.unwrap();
            record.into_inner().record.unwrap().budget_value
        }
    };
    let on_postgres = next(&postgres.channel).await;
    postgres.stop().await;
    let sqlite = serve(&db_text).await;
    assert_eq!(on_postgres, next(&sqlite.channel).await);
    sqlite.stop().await;

    // Both moved on since: another run copies exactly the file's new record,
    // and then finds the database's own one, which the file does not have.
    let third = migrate(&db, &url, &[]);
    assert_eq!(
        summary_line(&third, "exploration_budget"),
        "1 copied, 0 already there, 0 left out (unreadable)"
    );
    assert!(!third.status.success());
    let error = String::from_utf8_lossy(&third.stderr);
    assert!(
        error.contains(&format!(
            "exploration_budget has {} rows in the database but {} readable rows in the file",
            budget_rows + 2,
            budget_rows + 1
        )),
        "{error}"
    );
}

/// A file whose explanations an earlier release wrote (keyed by record id,
/// a layout the service rebuilds when it opens the file, which `migrate`
/// does not) migrates with every explanation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_explanations_of_the_earlier_layout_migrates_with_them() {
    if !require_postgres("migrate") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    let sqlite = serve(db.to_str().unwrap()).await;
    write_history(&sqlite.channel).await;
    let expected = answers(&sqlite.channel, &JOBS).await;
    sqlite.stop().await;
    assert!(
        expected.budget_history[3]
            .iter()
            .all(|r| r.explanation.is_some())
    );
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(EARLIER_EXPLANATIONS)
        .unwrap();
    let url = postgres_url(dir.path()).await;
    assert!(migrate(&db, &url, &[]).status.success());
    let postgres = serve(&url).await;
    assert_same(&expected, &answers(&postgres.channel, &JOBS).await);
    postgres.stop().await;
}

/// A file as the original Python store writes it, with rows it can hold but
/// the service cannot read (left out on both sides).
fn original_file(path: &Path) {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection.execute_batch(ORIGINAL_SCHEMA).unwrap();
    connection
        .execute_batch(
            r#"
            INSERT INTO exploration_budget VALUES
              ('3f2c1a9e-0b7d-4c55-9a51-2f0e8d6b1c01', 'J', '2025-01-01T09:00:00.500000', 0.15, 0.2, 'initial', 'Initial budget set'),
              ('3f2c1a9e-0b7d-4c55-9a51-2f0e8d6b1c02', 'J', '2025-01-01T10:00:00', 0.25, 0.1, 'boost', 'Entropy 0.100 < threshold 0.300'),
              ('3f2c1a9e-0b7d-4c55-9a51-2f0e8d6b1c03', 'K', '2025-01-01 11:00:00', 0.5, NULL, 'manual_override', NULL),
              ('3f2c1a9e-0b7d-4c55-9a51-2f0e8d6b1c04', 'K', '2025-01-01T11:30:00', 'not a number', NULL, 'boost', NULL),
              ('3f2c1a9e-0b7d-4c55-9a51-2f0e8d6b1c05', 'J', x'00ff', 0.1, 'n/a', 'decay', 'odd time');
            INSERT INTO entropy_responses VALUES
              ('6a1e4c0d-7f3b-4e2a-8c9d-0e1f2a3b4c01', 'J', '2025-01-01T10:00:00.000001', 0.1, 0.3,
               '["budget_boost", "quarantine_revisit"]', 1, 1, '["p-quarantined"]'),
              ('6a1e4c0d-7f3b-4e2a-8c9d-0e1f2a3b4c02', 'J', '2025-01-01T10:05:00', 0.2, 0.3, '[]', 0, 0, NULL),
              ('6a1e4c0d-7f3b-4e2a-8c9d-0e1f2a3b4c03', 'K', '2025-01-01T10:06:00', 0.25, 0.3, 'not json', 'yes', 2, '["x"]');
            INSERT INTO pattern_entropy_history VALUES
              ('9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c01', '2025-01-01T08:00:00', 1.0, 1.0, 1.0, 2, 2, 20, 0.5, 0),
              ('9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c02', '2025-01-01T09:00:00.250000', 0.469, 1.0, 0.469, 3, 2, 100, 0.9, 1),
              ('9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c03', 12345, 0.5, 1.0, 0.5, 3, 2, 100, 0.9, 1);
            INSERT INTO patterns (id, pattern_type, pattern_name, quarantine_status, last_seen, context_tags)
              VALUES ('p-quarantined', 'retry', 'backoff', 'quarantined', '2025-01-01T07:00:00', '["a", "b"]'),
                     ('p-applied', 'retry', 'jitter', 'validated', '2025-01-01T07:00:00', '[]'),
                     ('p-old', 'retry', 'linear', 'QUARANTINED', NULL, NULL);
            UPDATE patterns SET active = 'yes', led_to_success_count = 2.5 WHERE id = 'p-old';
            INSERT INTO pattern_applications (id, pattern_id, execution_id, applied_at, pattern_led_to_success)
              VALUES ('a1', 'p-applied', 'e1', '2025-01-01T07:00:00', 1),
                     ('a2', 'p-applied', 'e2', '2025-01-01T07:00:01', 0),
                     ('a3', 'p-quarantined', 'e3', '2025-01-01T07:00:02', 1),
                     ('a4', 'p-gone', 'e4', '2025-01-01T07:00:03', NULL);
            "#,
        )
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_the_original_store_migrates_with_what_the_service_reads_of_it() {
    if !require_postgres("migrate") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("global-learning.db");
    original_file(&db);
    let before = file_bytes(&db);
    let url = postgres_url(dir.path()).await;
    // Migrated before the service ever opened the file (no `ls_` tables yet).
    let migrated = migrate(&db, &url, &[]);
    assert!(migrated.status.success());
    assert_eq!(file_bytes(&db), before, "the SQLite file is left untouched");
    assert_eq!(
        summary_line(&migrated, "exploration_budget"),
        "4 copied, 0 already there, 1 left out (unreadable)"
    );
    assert_eq!(
        summary_line(&migrated, "pattern_entropy_history"),
        "2 copied, 0 already there, 1 left out (unreadable)"
    );
    assert_eq!(
        summary_line(&migrated, "pattern_applications"),
        "4 copied, 0 already there, 0 left out (unreadable)"
    );

    let postgres = serve(&url).await;
    let on_postgres = answers(&postgres.channel, &["J", "K"]).await;
    postgres.stop().await;
    let sqlite = serve(db.to_str().unwrap()).await;
    let on_sqlite = answers(&sqlite.channel, &["J", "K"]).await;
    sqlite.stop().await;
    assert_same(&on_sqlite, &on_postgres);
    // What the reads make of the odd rows, as a check that they were read.
    assert_eq!(on_postgres.budget_statistics[1].total_adjustments, 1);
    assert_eq!(on_postgres.entropy.total_applications, 3);
    assert_eq!(on_postgres.quarantined.len(), 2);
}

/// Rows of `table` in the PostgreSQL store at `url`.
async fn count(url: &str, table: &str) -> i64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let text = format!("SELECT COUNT(*) FROM {table}");
    match client.query_one(&text, &[]).await {
        Ok(row) => row.get(0),
        // Not created yet: the migration has not applied the schema.
        Err(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_migration_resumes_where_it_stopped_and_copies_nothing_twice() {
    if !require_postgres("migrate") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    let db_text = db.to_str().unwrap().to_owned();
    let sqlite = serve(&db_text).await;
    sqlite.stop().await;
    // 3,000 records of two jobs, as the service writes them.
    const ROWS: i64 = 3000;
    {
        let connection = rusqlite::Connection::open(&db).unwrap();
        connection.execute_batch("BEGIN").unwrap();
        for n in 0..ROWS {
            connection
                .execute(
                    "INSERT INTO exploration_budget (id, job_hash, recorded_at, budget_value, \
                     entropy_at_time, adjustment_type, adjustment_reason) \
                     VALUES (?1, ?2, '2025-01-01T10:00:00', ?3, 0.2, 'boost', 'seeded')",
                    rusqlite::params![
                        format!("00000000-0000-4000-8000-{n:012}"),
                        if n % 2 == 0 { "even" } else { "odd" },
                        0.05 + (n % 45) as f64 / 100.0,
                    ],
                )
                .unwrap();
        }
        connection.execute_batch("COMMIT").unwrap();
    }
    let url = postgres_url(dir.path()).await;

    // One row per transaction, killed (SIGKILL) part of the way through.
    let mut child = Command::new(BINARY)
        .args(["migrate", "--batch-size", "1", "--from"])
        .arg(&db)
        .args(["--to", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&url, "exploration_budget").await < 100 {
        assert!(Instant::now() < deadline, "the migration copies nothing");
        assert!(child.try_wait().unwrap().is_none(), "it ended too soon");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "it was still copying when killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // A COMMIT that reached the server before the kill still completes there.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let copied_before_kill = count(&url, "exploration_budget").await;
    assert!(
        (100..ROWS).contains(&copied_before_kill),
        "{copied_before_kill}"
    );

    let resumed = migrate(&db, &url, &[]);
    assert!(resumed.status.success());
    assert_eq!(
        summary_line(&resumed, "exploration_budget"),
        format!(
            "{} copied, 0 already there, 0 left out (unreadable)",
            ROWS - copied_before_kill
        )
    );
    assert_eq!(count(&url, "exploration_budget").await, ROWS);

    let sqlite = serve(&db_text).await;
    let expected = answers(&sqlite.channel, &["even", "odd"]).await;
    sqlite.stop().await;
    let postgres = serve(&url).await;
    assert_same(
        &expected,
        &answers(&postgres.channel, &["even", "odd"]).await,
    );
    postgres.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_database_or_one_migrated_from_another_file_is_refused() {
    if !require_postgres("migrate") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (first, other) = (dir.path().join("first.db"), dir.path().join("other.db"));
    original_file(&first);
    original_file(&other);
    let url = postgres_url(dir.path()).await;
    assert!(migrate(&first, &url, &[]).status.success());
    let refused = migrate(&other, &url, &[]);
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        error.contains("the database holds a migration from"),
        "{error}"
    );
    assert!(error.contains("into a new database"), "{error}");

    // A database a replica already wrote to, without a migration.
    let used = postgres_url(&dir.path().join("used")).await;
    let served = serve(&used).await;
    let mut budget = BudgetServiceClient::new(served.channel.clone());
    let request = pb::CalculateBudgetAdjustmentRequest {
        job_hash: "J".into(),
        current_entropy: 0.1,
        ..Default::default()
    };
    budget.calculate_budget_adjustment(request).await.unwrap();
    served.stop().await;
    let refused = migrate(&first, &used, &[]);
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        error.contains("already holds records (exploration_budget)"),
        "{error}"
    );
    assert_eq!(
        count(&used, "exploration_budget").await,
        1,
        "nothing copied"
    );
}
