//! Diversity that reacts: effective numbers of patterns (perplexity,
//! inverse Simpson), windows and scopes, over a real server.
//!
//! Tests that need applications recorded long ago seed them in the
//! original's SQL formats into the SQLite file (`require_sqlite`); the
//! others run on every backend.

#[allow(unused_imports)] // its re-export of the test CA, not used here
mod cli_support;
mod common;

use std::time::Duration;

use chrono::Local;
use common::{TestServer, assert_invalid, backend::require_sqlite};
use learning_service::{
    background::{ResponderOptions, SamplerOptions},
    domain::{
        diversity::{DiversityQuery, PatternScope},
        records::ResponseConfig,
    },
    pb,
    server::ServerOptions,
};

fn hour() -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: 3600,
        nanos: 0,
    })
}

/// Perplexity (2^H, H in bits) and inverse Simpson from raw counts, written
/// out here independently of the service's domain code.
fn effective_numbers(counts: &[i64]) -> (f64, f64) {
    let total: f64 = counts.iter().map(|&c| c as f64).sum();
    let shares: Vec<f64> = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| c as f64 / total)
        .collect();
    let entropy_nats: f64 = -shares.iter().map(|p| p * p.ln()).sum::<f64>();
    let perplexity = (entropy_nats / std::f64::consts::LN_2).exp2();
    let inverse_simpson = 1.0 / shares.iter().map(|p| p * p).sum::<f64>();
    (perplexity, inverse_simpson)
}

fn close(actual: Option<f64>, expected: f64, what: &str) {
    let actual = actual.unwrap_or_else(|| panic!("{what}: absent"));
    assert!(
        (actual - expected).abs() < 1e-9 * expected.max(1.0),
        "{what}: expected {expected}, got {actual}"
    );
}

async fn pattern(
    server: &TestServer,
    pattern_type: &str,
    instrument: Option<&str>,
    status: Option<pb::QuarantineStatus>,
) -> String {
    server
        .patterns()
        .record_pattern(pb::RecordPatternRequest {
            pattern_type: pattern_type.into(),
            pattern_name: "p".into(),
            instrument_name: instrument.map(str::to_owned),
            quarantine_status: status.map(|s| s as i32),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .pattern
        .unwrap()
        .id
}

async fn apply(server: &TestServer, id: &str, times: i64) {
    for _ in 0..times {
        server
            .patterns()
            .record_pattern_application(pb::RecordPatternApplicationRequest {
                pattern_id: id.into(),
                execution_id: "exec".into(),
                pattern_led_to_success: true,
                ..Default::default()
            })
            .await
            .unwrap();
    }
}

async fn calculate(
    server: &TestServer,
    request: pb::CalculatePatternEntropyRequest,
) -> pb::PatternEntropyMetrics {
    server
        .entropy()
        .calculate_pattern_entropy(request)
        .await
        .unwrap()
        .into_inner()
        .metrics
        .unwrap()
}

fn check(
    job: &str,
    window: Option<prost_types::Duration>,
) -> pb::CheckEntropyResponseNeededRequest {
    pb::CheckEntropyResponseNeededRequest {
        job_hash: job.into(),
        entropy_threshold: Some(0.3),
        cooldown_seconds: Some(0),
        window,
        ..Default::default()
    }
}

/// The original's timestamp text (naive local time) of `ago` before now.
fn local_text(ago: chrono::Duration, separator: char) -> String {
    (Local::now() - ago)
        .naive_local()
        .format(&format!("%Y-%m-%d{separator}%H:%M:%S%.6f"))
        .to_string()
}

/// 40 patterns applied 50 times each three days ago; in the last hour only
/// the first, 30 times. Written as the original store writes, part of it
/// before the service first opens the file (the backfill counts it) and
/// part after (the triggers count it).
fn seed_a_recent_collapse(sql: &rusqlite::Connection) -> Vec<String> {
    let transaction = sql.unchecked_transaction().unwrap();
    let ids: Vec<String> = (0..40)
        .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        sql.execute(
            "INSERT INTO patterns (id, pattern_type, pattern_name, first_seen, last_seen) \
             VALUES (?1, 'test', ?2, '2025-01-01T10:00:00', '2025-01-01T10:00:00')",
            rusqlite::params![id, format!("pattern-{i}")],
        )
        .unwrap();
        for a in 0..50 {
            // The original writes `T`; other writers a space: both are read.
            let separator = if a % 2 == 0 { 'T' } else { ' ' };
            sql.execute(
                "INSERT INTO pattern_applications (id, pattern_id, execution_id, applied_at, \
                 pattern_led_to_success) VALUES (?1, ?2, 'exec', ?3, 1)",
                rusqlite::params![
                    format!("{id}-old-{a}"),
                    id,
                    local_text(chrono::Duration::days(3), separator)
                ],
            )
            .unwrap();
        }
    }
    transaction.commit().unwrap();
    ids
}

fn apply_recently(sql: &rusqlite::Connection, id: &str, times: usize, tag: &str) {
    let transaction = sql.unchecked_transaction().unwrap();
    for a in 0..times {
        sql.execute(
            "INSERT INTO pattern_applications (id, pattern_id, execution_id, applied_at, \
             pattern_led_to_success) VALUES (?1, ?2, 'exec', ?3, 1)",
            rusqlite::params![
                format!("{id}-{tag}-{a}"),
                id,
                local_text(chrono::Duration::minutes(10), 'T')
            ],
        )
        .unwrap();
    }
    transaction.commit().unwrap();
}

/// A file of the original store that the service never opened, with the
/// collapse of [`seed_a_recent_collapse`]: the first pattern applied
/// `recent` times in the last hour. Returns the file and the pattern ids.
fn collapsed_original_file(
    dir: &tempfile::TempDir,
    recent: usize,
) -> (std::path::PathBuf, Vec<String>) {
    let db = dir.path().join("learning.db");
    let sql = rusqlite::Connection::open(&db).unwrap();
    sql.execute_batch(include_str!("fixtures/original_schema.sql"))
        .unwrap();
    let ids = seed_a_recent_collapse(&sql);
    apply_recently(&sql, &ids[0], recent, "before");
    (db, ids)
}

#[tokio::test]
async fn a_window_sees_a_collapse_that_all_time_diversity_hides() {
    if !require_sqlite("a_window_sees_a_collapse_that_all_time_diversity_hides") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (db, ids) = collapsed_original_file(&dir, 20);
    let server = TestServer::start_on(db).await;
    {
        // After the service's first open: counted by the triggers,
        // deletes included.
        let sql = server.sql();
        apply_recently(&sql, &ids[0], 11, "after");
        sql.execute(
            "DELETE FROM pattern_applications WHERE id = ?1",
            [format!("{}-after-0", ids[0])],
        )
        .unwrap();
    }

    let all_time = calculate(&server, Default::default()).await;
    assert_eq!(all_time.total_applications, 40 * 50 + 30);
    assert!(all_time.diversity_index > 0.99, "{all_time:?}");
    let mut counts = vec![50; 40];
    counts[0] += 30;
    let (perplexity, inverse_simpson) = effective_numbers(&counts);
    close(all_time.perplexity, perplexity, "all-time perplexity");
    close(
        all_time.inverse_simpson,
        inverse_simpson,
        "all-time inverse Simpson",
    );

    let last_hour = calculate(
        &server,
        pb::CalculatePatternEntropyRequest {
            window: hour(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(last_hour.total_applications, 30, "{last_hour:?}");
    assert_eq!(last_hour.unique_pattern_count, 40);
    assert_eq!(last_hour.effective_pattern_count, 1);
    assert_eq!(last_hour.diversity_index, 0.0);
    close(last_hour.perplexity, 1.0, "windowed perplexity");
    close(last_hour.inverse_simpson, 1.0, "windowed inverse Simpson");

    // A window of four days takes in the old applications again.
    let four_days = calculate(
        &server,
        pb::CalculatePatternEntropyRequest {
            window: Some(prost_types::Duration {
                seconds: 4 * 24 * 3600,
                nanos: 0,
            }),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(four_days.total_applications, all_time.total_applications);
    assert_eq!(four_days.diversity_index, all_time.diversity_index);

    let entropy = server.entropy();
    let healthy = entropy
        .clone()
        .check_entropy_response_needed(check("job", None))
        .await
        .unwrap()
        .into_inner();
    assert!(!healthy.needs_response, "{healthy:?}");
    let collapsing = entropy
        .clone()
        .check_entropy_response_needed(check("job", hour()))
        .await
        .unwrap()
        .into_inner();
    assert!(collapsing.needs_response, "{collapsing:?}");
    assert_eq!(collapsing.current_entropy, Some(0.0));
    assert_eq!(collapsing.reason, "Entropy 0.000 < threshold 0.300");

    let responded = entropy
        .clone()
        .respond_to_entropy_if_needed(pb::RespondToEntropyIfNeededRequest {
            job_hash: "job".into(),
            entropy_threshold: Some(0.3),
            cooldown_seconds: Some(0),
            window: hour(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(responded.needs_response);
    assert_eq!(responded.response.unwrap().entropy_at_trigger, 0.0);
    let not_all_time = entropy
        .clone()
        .respond_to_entropy_if_needed(pb::RespondToEntropyIfNeededRequest {
            job_hash: "other".into(),
            entropy_threshold: Some(0.3),
            cooldown_seconds: Some(0),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!not_all_time.needs_response && not_all_time.response.is_none());
    server.stop().await;
}

/// The effective numbers of every computed reading agree with an
/// independent computation from the raw counts; they are stored with a
/// recorded snapshot, returned by the history and streamed.
#[tokio::test]
async fn perplexity_and_inverse_simpson_match_an_independent_computation() {
    let server = TestServer::start().await;
    let counts = [7, 3, 2, 1, 1, 0];
    for &count in &counts {
        let id = pattern(&server, "t", None, None).await;
        apply(&server, &id, count).await;
    }
    let (perplexity, inverse_simpson) = effective_numbers(&counts);
    let metrics = calculate(&server, Default::default()).await;
    close(metrics.perplexity, perplexity, "perplexity");
    close(metrics.inverse_simpson, inverse_simpson, "inverse Simpson");
    // Just recorded: a window of an hour sees the same applications.
    let windowed = calculate(
        &server,
        pb::CalculatePatternEntropyRequest {
            window: hour(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(windowed.total_applications, 14);
    assert_eq!(windowed.unique_pattern_count, 6);
    close(windowed.perplexity, perplexity, "windowed perplexity");
    close(
        windowed.inverse_simpson,
        inverse_simpson,
        "windowed inverse Simpson",
    );

    let entropy = server.entropy();
    let recorded = server.record_snapshot(metrics.clone()).await;
    let history = entropy
        .clone()
        .get_pattern_entropy_history(pb::GetPatternEntropyHistoryRequest::default())
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, recorded.id);
    assert_eq!(history[0].perplexity, metrics.perplexity);
    assert_eq!(history[0].inverse_simpson, metrics.inverse_simpson);
    let mut stream = entropy
        .clone()
        .subscribe_pattern_entropy(pb::SubscribePatternEntropyRequest {
            backfill: Some(1),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("the backfilled snapshot in time")
        .unwrap()
        .unwrap();
    let Some(pb::subscribe_pattern_entropy_response::Event::Snapshot(streamed)) = first.event
    else {
        panic!("expected the snapshot first, got {first:?}");
    };
    assert_eq!(streamed.perplexity, metrics.perplexity);
    assert_eq!(streamed.inverse_simpson, metrics.inverse_simpson);

    // A client's snapshot without them is stored without them.
    let bare = pb::PatternEntropyMetrics {
        perplexity: None,
        inverse_simpson: None,
        ..metrics.clone()
    };
    let stored = server.record_snapshot(bare).await.metrics.unwrap();
    assert_eq!((stored.perplexity, stored.inverse_simpson), (None, None));
    server.stop().await;
}

#[tokio::test]
async fn snapshots_of_the_original_store_have_no_effective_numbers() {
    if !require_sqlite("snapshots_of_the_original_store_have_no_effective_numbers") {
        return;
    }
    let server = TestServer::start().await;
    server
        .sql()
        .execute_batch(
            "INSERT INTO pattern_entropy_history (id, calculated_at, shannon_entropy, \
             max_possible_entropy, diversity_index, unique_pattern_count, effective_pattern_count, \
             total_applications, dominant_pattern_share, threshold_exceeded) \
             VALUES ('orig', '2025-06-01T14:02:11.123456', 1.0, 1.0, 1.0, 2, 2, 4, 0.5, 0)",
        )
        .unwrap();
    let history = server
        .entropy()
        .get_pattern_entropy_history(pb::GetPatternEntropyHistoryRequest::default())
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id, "orig");
    assert_eq!(
        (history[0].perplexity, history[0].inverse_simpson),
        (None, None)
    );
    server.stop().await;
}

/// A scope counts only its patterns, alone or with a window; a scoped
/// response revisits quarantined patterns of its scope only.
#[tokio::test]
async fn a_scoped_reading_counts_its_scope_and_a_scoped_response_revisits_only_it() {
    let server = TestServer::start().await;
    for _ in 0..3 {
        let id = pattern(&server, "retry", Some("piano"), None).await;
        apply(&server, &id, 5).await;
    }
    let violin_busy = pattern(&server, "route", Some("violin"), None).await;
    apply(&server, &violin_busy, 10).await;
    let violin_rare = pattern(&server, "route", Some("violin"), None).await;
    apply(&server, &violin_rare, 1).await;
    let quarantined = Some(pb::QuarantineStatus::Quarantined);
    let piano_quarantined = pattern(&server, "retry", Some("piano"), quarantined).await;
    let violin_quarantined = pattern(&server, "route", Some("violin"), quarantined).await;

    let scoped =
        |pattern_type: Option<&str>, instrument: Option<&str>| pb::CalculatePatternEntropyRequest {
            pattern_type: pattern_type.map(str::to_owned),
            instrument_name: instrument.map(str::to_owned),
            ..Default::default()
        };
    let piano = calculate(&server, scoped(None, Some("piano"))).await;
    assert_eq!(
        (
            piano.unique_pattern_count,
            piano.effective_pattern_count,
            piano.total_applications
        ),
        (4, 3, 15)
    );
    assert_eq!(piano.diversity_index, 1.0);
    let violin = calculate(&server, scoped(Some("route"), None)).await;
    assert_eq!(
        (
            violin.unique_pattern_count,
            violin.effective_pattern_count,
            violin.total_applications
        ),
        (3, 2, 11)
    );
    let (perplexity, inverse_simpson) = effective_numbers(&[10, 1]);
    close(violin.perplexity, perplexity, "scoped perplexity");
    close(
        violin.inverse_simpson,
        inverse_simpson,
        "scoped inverse Simpson",
    );
    // Both parts of a scope must hold; an empty part means any.
    let none = calculate(&server, scoped(Some("route"), Some("piano"))).await;
    assert_eq!((none.unique_pattern_count, none.total_applications), (0, 0));
    let everything = calculate(&server, scoped(Some(""), Some(""))).await;
    assert_eq!(
        everything,
        pb::PatternEntropyMetrics {
            calculated_at: everything.calculated_at,
            ..calculate(&server, Default::default()).await
        }
    );
    let windowed = calculate(
        &server,
        pb::CalculatePatternEntropyRequest {
            window: hour(),
            ..scoped(None, Some("violin"))
        },
    )
    .await;
    assert_eq!(windowed.total_applications, 11);
    assert_eq!(windowed.diversity_index, violin.diversity_index);

    let entropy = server.entropy();
    let piano_check = entropy
        .clone()
        .check_entropy_response_needed(pb::CheckEntropyResponseNeededRequest {
            instrument_name: Some("piano".into()),
            entropy_threshold: Some(0.9),
            ..check("job", None)
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!piano_check.needs_response, "{piano_check:?}");
    let response = entropy
        .clone()
        .respond_to_entropy_if_needed(pb::RespondToEntropyIfNeededRequest {
            job_hash: "job".into(),
            entropy_threshold: Some(0.9),
            cooldown_seconds: Some(0),
            instrument_name: Some("violin".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(response.needs_response, "{response:?}");
    assert_eq!(response.current_entropy, Some(violin.diversity_index));
    let record = response.response.unwrap();
    assert_eq!(record.patterns_revisited, vec![violin_quarantined.clone()]);
    // The explanation measured the scope, and considered only its patterns.
    let why = record.explanation.expect("a scoped response is explained");
    assert_eq!(why.total_applications, Some(violin.total_applications));
    assert_eq!(why.effective_pattern_count, Some(2));
    assert_eq!(why.patterns_considered, vec![violin_quarantined.clone()]);

    let still_quarantined: Vec<String> = server
        .patterns()
        .list_patterns(pb::ListPatternsRequest {
            status: Some(pb::QuarantineStatus::Quarantined as i32),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .patterns
        .into_iter()
        .map(|p| {
            assert_eq!(p.instrument_name.as_deref(), Some("piano"));
            p.id
        })
        .collect();
    assert_eq!(still_quarantined, vec![piano_quarantined]);
    server.stop().await;
}

#[tokio::test]
async fn bad_windows_and_scopes_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let id = pattern(&server, "t", None, Some(pb::QuarantineStatus::Quarantined)).await;
    apply(&server, &id, 1).await;
    let before = server.row_counts();
    let duration = |seconds, nanos| Some(prost_types::Duration { seconds, nanos });
    let long = "x".repeat(257);
    // (window, pattern_type, instrument_name, the field refused)
    type Case = (
        Option<prost_types::Duration>,
        Option<String>,
        Option<String>,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (duration(0, 0), None, None, "window"),
        (duration(-60, 0), None, None, "window"),
        (duration(0, -1), None, None, "window"),
        (duration(7 * 24 * 3600 + 1, 0), None, None, "window"),
        (duration(1, 1_000_000_000), None, None, "window"),
        (duration(1, -5), None, None, "window"),
        (None, Some(long.clone()), None, "pattern_type"),
        (None, None, Some(long.clone()), "instrument_name"),
    ];
    let entropy = server.entropy();
    for (window, pattern_type, instrument_name, field) in cases {
        let status = entropy
            .clone()
            .calculate_pattern_entropy(pb::CalculatePatternEntropyRequest {
                window,
                pattern_type: pattern_type.clone(),
                instrument_name: instrument_name.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_invalid(&status, field);
        let status = entropy
            .clone()
            .check_entropy_response_needed(pb::CheckEntropyResponseNeededRequest {
                window,
                pattern_type: pattern_type.clone(),
                instrument_name: instrument_name.clone(),
                ..check("job", None)
            })
            .await
            .unwrap_err();
        assert_invalid(&status, field);
        let status = entropy
            .clone()
            .respond_to_entropy_if_needed(pb::RespondToEntropyIfNeededRequest {
                job_hash: "job".into(),
                entropy_threshold: Some(1.0),
                cooldown_seconds: Some(0),
                window,
                pattern_type,
                instrument_name,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_invalid(&status, field);
    }
    assert_eq!(server.row_counts(), before);
    // The longest window is accepted.
    calculate(
        &server,
        pb::CalculatePatternEntropyRequest {
            window: duration(7 * 24 * 3600, 0),
            ..Default::default()
        },
    )
    .await;
    server.stop().await;
}

/// The sampler and the responder read the window they are given: with the
/// all-time reading healthy, the responder still responds and the sampler
/// records the collapse.
#[tokio::test]
async fn the_sampler_and_the_responder_use_their_window_and_scope() {
    if !require_sqlite("the_sampler_and_the_responder_use_their_window_and_scope") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = collapsed_original_file(&dir, 30);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("UPDATE patterns SET instrument_name = 'piano'")
        .unwrap();
    let diversity = DiversityQuery {
        window: Some(Duration::from_secs(3600)),
        scope: PatternScope {
            pattern_type: None,
            instrument_name: Some("piano".into()),
        },
    };
    let server = TestServer::start_on_with(
        db,
        ServerOptions {
            sampler: Some(SamplerOptions {
                interval: Duration::from_millis(100),
                alert_threshold: 0.5,
                diversity: diversity.clone(),
            }),
            responder: Some(ResponderOptions {
                jobs: vec!["daemon".into()],
                interval: Duration::from_millis(50),
                entropy_threshold: 0.3,
                cooldown_seconds: 3600,
                config: ResponseConfig::default(),
                diversity,
            }),
            ..Default::default()
        },
    )
    .await;
    common::wait_until("a snapshot and a response are recorded", || {
        let sql = server.sql();
        let count = |table: &str| -> i64 {
            sql.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap()
        };
        count("pattern_entropy_history") > 0 && count("entropy_responses") > 0
    })
    .await;
    let snapshot = server
        .entropy()
        .get_pattern_entropy_history(pb::GetPatternEntropyHistoryRequest::default())
        .await
        .unwrap()
        .into_inner()
        .records
        .pop()
        .unwrap();
    assert_eq!(snapshot.total_applications, 30);
    assert!(snapshot.threshold_exceeded);
    close(snapshot.perplexity, 1.0, "sampled perplexity");
    let response = server
        .entropy()
        .get_last_entropy_response(pb::GetLastEntropyResponseRequest::default())
        .await
        .unwrap()
        .into_inner()
        .response
        .unwrap();
    assert_eq!(response.job_hash, "daemon");
    assert_eq!(response.entropy_at_trigger, 0.0);
    server.stop().await;
}

/// `entropy --window` and `responses --check --window` answer "is
/// diversity collapsing now?" for people and scripts.
#[tokio::test]
async fn the_cli_shows_the_effective_patterns_of_a_window() {
    if !require_sqlite("the_cli_shows_the_effective_patterns_of_a_window") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = collapsed_original_file(&dir, 30);
    let server = TestServer::start_on(db).await;
    let address = format!("http://{}", server.address);
    let text = cli_support::run(&["entropy", "--window", "1h", "--server", &address]).await;
    assert_eq!(text.code, Some(0), "{}", text.stderr);
    assert!(
        text.stdout.contains("Pattern entropy (last 1h)"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("about 1.0 of 40 patterns in effective use (inverse Simpson 1.0)"),
        "{}",
        text.stdout
    );
    let all_time = cli_support::run(&["entropy", "--server", &address]).await;
    assert!(
        all_time.stdout.contains("of 40 patterns in effective use"),
        "{}",
        all_time.stdout
    );
    assert!(
        !all_time.stdout.contains("about 1.0 of 40"),
        "{}",
        all_time.stdout
    );
    let json = cli_support::run(&["entropy", "--window", "1h", "--json", "--server", &address])
        .await
        .json();
    assert_eq!(json["perplexity"], 1.0);
    assert_eq!(json["total_applications"], 30);
    let check = cli_support::run(&[
        "responses",
        "--check",
        "--job",
        "job",
        "--window",
        "1h",
        "--json",
        "--server",
        &address,
    ])
    .await
    .json();
    assert_eq!(check["needs_response"], true, "{check}");
    assert_eq!(check["of"], "last 1h");
    server.stop().await;
}

/// A PostgreSQL store created before the buckets existed (schema version
/// 1, or 2 with the explanations) gets the buckets of its applications when
/// the service migrates it.
#[tokio::test]
async fn a_postgres_store_of_version_1_gets_its_buckets_when_migrated() {
    migrated_store_gets_its_buckets(1).await;
}

#[tokio::test]
async fn a_postgres_store_of_version_2_gets_its_buckets_when_migrated() {
    migrated_store_gets_its_buckets(2).await;
}

async fn migrated_store_gets_its_buckets(version: usize) {
    if common::backend::chosen() != common::backend::Backend::Postgres {
        eprintln!(
            "a_postgres_store_of_version_{version}_gets_its_buckets_when_migrated: PostgreSQL only"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    let url = common::backend::postgres_url_for(&common::backend::schema_for(&db)).await;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(connection);
    for migration in &learning_service::store::postgres::schema::MIGRATIONS[..version] {
        client.batch_execute(migration).await.unwrap();
    }
    client
        .batch_execute(&format!(
            "CREATE TABLE ls_schema (id BIGINT PRIMARY KEY, version BIGINT NOT NULL); \
             INSERT INTO ls_schema VALUES (1, {version}); \
             INSERT INTO patterns (pos, id, pattern_type, pattern_name, application_count) \
             VALUES (1, 'old', 't', 'n', 50), (2, 'new', 't', 'n', 5);",
        ))
        .await
        .unwrap();
    for (pattern, count, ago) in [
        ("old", 50, chrono::Duration::days(3)),
        ("new", 5, chrono::Duration::minutes(10)),
    ] {
        for a in 0..count {
            client
                .execute(
                    "INSERT INTO pattern_applications (id, pattern_id, applied_at) \
                     VALUES ($1, $2, $3)",
                    &[&format!("{pattern}-{a}"), &pattern, &local_text(ago, 'T')],
                )
                .await
                .unwrap();
        }
    }
    drop(client);
    let _ = task.await;

    let server = TestServer::start_on(db).await;
    let all_time = calculate(&server, Default::default()).await;
    assert_eq!(all_time.total_applications, 55);
    let last_hour = calculate(
        &server,
        pb::CalculatePatternEntropyRequest {
            window: hour(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        (
            last_hour.total_applications,
            last_hour.effective_pattern_count
        ),
        (5, 1)
    );
    // Every later migration ran (the explanations' tables of version 2 too).
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(connection);
    let migrated: i64 = client
        .query_one("SELECT version FROM ls_schema WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        migrated,
        learning_service::store::postgres::schema::SCHEMA_VERSION
    );
    let explanations: i64 = client
        .query_one("SELECT count(*) FROM ls_budget_explanation", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(explanations, 0);
    drop(client);
    let _ = task.await;
    server.stop().await;
}
