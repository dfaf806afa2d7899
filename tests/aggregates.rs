//! Statistics and entropy come from aggregates kept by SQLite triggers. They
//! must stay exact when another program (the original store, plain SQL)
//! inserts, deletes or updates rows of the original tables.

mod common;
#[path = "support/prerequisite.rs"]
mod prerequisite;
#[path = "support/python.rs"]
mod python;

use common::TestServer;
use learning_service::{domain::entropy::PopulationEntropy, pb};
use rusqlite::{Connection, params};

/// The original's population query, over the raw rows.
fn raw_counts(sql: &Connection) -> Vec<i64> {
    sql.prepare(
        "SELECT COUNT(a.id) FROM patterns p \
             LEFT JOIN pattern_applications a ON a.pattern_id = p.id GROUP BY p.id",
    )
    .unwrap()
    .query_map([], |r| r.get(0))
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// The service's full computation over the raw rows: what the cache,
/// however it got there, must serve bit for bit.
fn reference_entropy(sql: &Connection) -> PopulationEntropy {
    PopulationEntropy::from_counts(raw_counts(sql))
}

/// The original's formula (p log2 p summed in row order, then negated):
/// the service's entropy and diversity agree within 1e-12.
fn assert_near_the_original_formula(sql: &Connection, served: &pb::PatternEntropyMetrics) {
    let applied: Vec<f64> = raw_counts(sql)
        .into_iter()
        .filter(|&c| c > 0)
        .map(|c| c as f64)
        .collect();
    let total: f64 = applied.iter().sum();
    let h = if total > 0.0 {
        -applied
            .iter()
            .map(|c| (c / total) * (c / total).log2())
            .sum::<f64>()
    } else {
        0.0
    };
    let max = if applied.len() > 1 {
        (applied.len() as f64).log2()
    } else {
        1.0
    };
    let diversity = if total > 0.0 { (h / max).min(1.0) } else { 0.0 };
    assert!(
        (served.shannon_entropy - h).abs() <= 1e-12,
        "H {} vs {h}",
        served.shannon_entropy
    );
    assert!(
        (served.diversity_index - diversity).abs() <= 1e-12,
        "diversity {} vs {diversity}",
        served.diversity_index
    );
}

async fn served_entropy(server: &TestServer) -> pb::PatternEntropyMetrics {
    server
        .entropy()
        .calculate_pattern_entropy(pb::CalculatePatternEntropyRequest::default())
        .await
        .unwrap()
        .into_inner()
        .metrics
        .unwrap()
}

async fn assert_entropy_exact(server: &TestServer) {
    let expected = reference_entropy(&server.sql());
    let served = served_entropy(server).await;
    assert_near_the_original_formula(&server.sql(), &served);
    assert_eq!(served.max_possible_entropy, expected.max_possible_entropy);
    assert_eq!(served.perplexity, expected.perplexity);
    assert_eq!(served.inverse_simpson, expected.inverse_simpson);
    assert_eq!(served.unique_pattern_count, expected.unique_pattern_count);
    assert_eq!(
        served.effective_pattern_count,
        expected.effective_pattern_count
    );
    assert_eq!(served.total_applications, expected.total_applications);
    assert_eq!(served.shannon_entropy, expected.shannon_entropy);
    assert_eq!(served.diversity_index, expected.diversity_index);
    assert_eq!(
        served.dominant_pattern_share,
        expected.dominant_pattern_share
    );
}

/// CheckEntropyResponseNeeded reads the same population as the full computation.
async fn assert_check_reads_the_exact_diversity(server: &TestServer) {
    let check = server
        .entropy()
        .check_entropy_response_needed(pb::CheckEntropyResponseNeededRequest {
            job_hash: "job".into(),
            entropy_threshold: Some(0.99),
            cooldown_seconds: Some(0),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        check.current_entropy,
        Some(reference_entropy(&server.sql()).diversity_index)
    );
}

fn insert_application(sql: &Connection, id: Option<&str>, pattern: Option<&str>) {
    sql.execute(
        "INSERT INTO pattern_applications (id, pattern_id, execution_id, applied_at, \
         pattern_led_to_success) VALUES (?1, ?2, 'exec', '2025-01-01T10:00:00', 1)",
        params![id, pattern],
    )
    .unwrap();
}

#[tokio::test]
async fn applications_written_by_another_program_are_counted_exactly() {
    let server = TestServer::start().await;
    let sql = server.sql();
    let ids = common::seed_applications(&sql, &[5, 3, 0, 1]);
    assert_entropy_exact(&server).await;

    // Through the service, then by direct SQL: orphans, NULL pattern ids and
    // NULL application ids, which the original's COUNT(a.id) ignores.
    server
        .patterns()
        .record_pattern_application(pb::RecordPatternApplicationRequest {
            pattern_id: ids[2].clone(),
            execution_id: "e".into(),
            pattern_led_to_success: true,
            request_id: String::new(),
        })
        .await
        .unwrap();
    insert_application(&sql, Some("orphan-1"), Some("no-such-pattern"));
    insert_application(&sql, Some("null-pattern"), None);
    insert_application(&sql, None, Some(&ids[0]));
    for n in 0..7 {
        insert_application(&sql, Some(&format!("extra-{n}")), Some(&ids[3]));
    }
    assert_entropy_exact(&server).await;

    // Deletes and updates, as another program would do them.
    sql.execute(
        "DELETE FROM pattern_applications WHERE id IN (SELECT id FROM pattern_applications \
         WHERE pattern_id = ?1 LIMIT 2)",
        [&ids[0]],
    )
    .unwrap();
    sql.execute(
        "UPDATE pattern_applications SET pattern_id = ?1 WHERE id = 'orphan-1'",
        [&ids[1]],
    )
    .unwrap();
    sql.execute(
        "UPDATE pattern_applications SET pattern_id = NULL WHERE id = 'extra-0'",
        [],
    )
    .unwrap();
    sql.execute(
        "UPDATE pattern_applications SET id = 'named' WHERE id IS NULL",
        [],
    )
    .unwrap();
    assert_entropy_exact(&server).await;
    // A pattern deleted and one added change the population, not the counts.
    sql.execute("DELETE FROM patterns WHERE id = ?1", [&ids[1]])
        .unwrap();
    sql.execute(
        "INSERT INTO patterns (id, pattern_type, pattern_name) VALUES ('no-such-pattern', 't', 'n')",
        [],
    )
    .unwrap();
    assert_entropy_exact(&server).await;
    // A renamed pattern loses its applications (they name the old id).
    sql.execute(
        "UPDATE patterns SET id = 'renamed' WHERE id = ?1",
        [&ids[3]],
    )
    .unwrap();
    assert_entropy_exact(&server).await;

    assert_check_reads_the_exact_diversity(&server).await;
    let listed = server
        .patterns()
        .list_patterns(pb::ListPatternsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let count_of = |id: &str| {
        sql.query_row(
            "SELECT COUNT(id) FROM pattern_applications WHERE pattern_id = ?1",
            [id],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
    };
    for pattern in listed.patterns {
        assert_eq!(pattern.application_count, count_of(&pattern.id));
    }

    // The original's clear_all.
    sql.execute_batch("DELETE FROM pattern_applications; DELETE FROM patterns;")
        .unwrap();
    assert_entropy_exact(&server).await;
    let left: i64 = sql
        .query_row("SELECT COUNT(*) FROM ls_pattern_app_counts", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(left, 0);
    server.stop().await;
}

/// The original's budget statistics query over the raw rows.
fn reference_budget(sql: &Connection, job: Option<&str>) -> (i64, f64, f64, f64, [i64; 5]) {
    let filter = if job.is_some() {
        "WHERE job_hash = ?1"
    } else {
        ""
    };
    let query = format!(
        "SELECT COUNT(*), coalesce(AVG(budget_value), 0), coalesce(MIN(budget_value), 0), \
         coalesce(MAX(budget_value), 0), TOTAL(adjustment_type = 'floor_enforced'), \
         TOTAL(adjustment_type = 'boost'), TOTAL(adjustment_type = 'decay'), \
         TOTAL(adjustment_type = 'ceiling_enforced'), TOTAL(adjustment_type = 'initial') \
         FROM exploration_budget {filter}"
    );
    let map = |r: &rusqlite::Row| {
        let count = |i| r.get::<_, f64>(i).map(|v| v as i64);
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            [count(4)?, count(5)?, count(6)?, count(7)?, count(8)?],
        ))
    };
    let mut statement = sql.prepare(&query).unwrap();
    match job {
        Some(job) => statement.query_row([job], map),
        None => statement.query_row([], map),
    }
    .unwrap()
}

async fn assert_budget_statistics_exact(server: &TestServer, job: Option<&str>) {
    let (count, avg, min, max, types) = reference_budget(&server.sql(), job);
    let served = server
        .budget()
        .get_exploration_budget_statistics(pb::GetExplorationBudgetStatisticsRequest {
            job_hash: job.map(str::to_owned),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(served.total_adjustments, count, "{job:?}");
    // A running compensated sum: equal to AVG, or within the last bits after deletes.
    assert!((served.avg_budget - avg).abs() <= 1e-9, "{job:?}");
    assert_eq!(
        (served.min_budget, served.max_budget),
        (min, max),
        "{job:?}"
    );
    assert_eq!(
        [
            served.floor_enforcements,
            served.boost_count,
            served.decay_count,
            served.ceiling_enforcements,
            served.initial_count
        ],
        types,
        "{job:?}"
    );
}

fn insert_budget(sql: &Connection, id: &str, job: &str, value: f64, kind: &str) {
    sql.execute(
        "INSERT INTO exploration_budget (id, job_hash, recorded_at, budget_value, \
         entropy_at_time, adjustment_type, adjustment_reason) \
         VALUES (?1, ?2, '2025-01-01T10:00:00', ?3, NULL, ?4, NULL)",
        params![id, job, value, kind],
    )
    .unwrap();
}

#[tokio::test]
async fn statistics_stay_exact_after_writes_of_another_program() {
    let server = TestServer::start().await;
    let mut budget = server.budget();
    for (job, entropy) in [("J", 0.1), ("J", 0.5), ("K", 0.1), ("J", 0.1)] {
        budget
            .calculate_budget_adjustment(pb::CalculateBudgetAdjustmentRequest {
                job_hash: job.into(),
                current_entropy: entropy,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let sql = server.sql();
    insert_budget(&sql, "x1", "J", 0.01, "floor_enforced");
    insert_budget(&sql, "x2", "J", 0.9, "manual_override");
    insert_budget(&sql, "x3", "L", 0.3, "decay");
    for job in [Some("J"), Some("K"), Some("L"), None] {
        assert_budget_statistics_exact(&server, job).await;
    }
    // Deleting the minimum and maximum, and moving a row to another job.
    sql.execute(
        "DELETE FROM exploration_budget WHERE id IN ('x1', 'x2')",
        [],
    )
    .unwrap();
    sql.execute(
        "UPDATE exploration_budget SET job_hash = 'K', budget_value = 0.07, \
         adjustment_type = 'boost' WHERE id = 'x3'",
        [],
    )
    .unwrap();
    for job in [Some("J"), Some("K"), Some("L"), None] {
        assert_budget_statistics_exact(&server, job).await;
    }

    let mut entropy = server.entropy();
    for boost in [true, false] {
        entropy
            .trigger_entropy_response(pb::TriggerEntropyResponseRequest {
                trigger: Some(pb::EntropyTriggerContext {
                    job_hash: "J".into(),
                    entropy_at_trigger: 0.1,
                    threshold_used: 0.3,
                    snapshot_id: None,
                }),
                config: Some(pb::EntropyResponseConfig {
                    boost_budget: Some(boost),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap();
    }
    sql.execute_batch(
        r#"INSERT INTO entropy_responses VALUES
             ('r1', 'J', '2025-01-01T10:00:00', 0.2, 0.3, '["budget_boost"]', 1, 2, '[]'),
             ('r2', 'K', '2025-01-01T10:00:00', 0.25, 0.3, '[]', NULL, NULL, NULL),
             ('r3', 'J', '2025-01-01T10:00:00', 0.05, 0.3, '[]', 0, 0, '[]');
           DELETE FROM entropy_responses WHERE id = 'r3';"#,
    )
    .unwrap();
    for job in [Some("J"), Some("K"), None] {
        let filter = if job.is_some() {
            "WHERE job_hash = ?1"
        } else {
            ""
        };
        let query = format!(
            "SELECT COUNT(*), coalesce(AVG(entropy_at_trigger), 0), TOTAL(budget_boosted != 0), \
             TOTAL(quarantine_revisits) FROM entropy_responses {filter}"
        );
        let map = |r: &rusqlite::Row| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, f64>(1)?,
                r.get::<_, f64>(2)? as i64,
                r.get::<_, f64>(3)? as i64,
            ))
        };
        let mut statement = sql.prepare(&query).unwrap();
        let (count, avg, boosts, revisits) = match job {
            Some(job) => statement.query_row([job], map),
            None => statement.query_row([], map),
        }
        .unwrap();
        let served = entropy
            .get_entropy_response_statistics(pb::GetEntropyResponseStatisticsRequest {
                job_hash: job.map(str::to_owned),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(served.total_responses, count, "{job:?}");
        assert!((served.avg_entropy_at_trigger - avg).abs() <= 1e-9);
        assert_eq!(
            (served.budget_boosts, served.quarantine_revisits),
            (boosts, revisits)
        );
    }

    // The original's clear_all empties the aggregates too.
    sql.execute_batch("DELETE FROM exploration_budget; DELETE FROM entropy_responses;")
        .unwrap();
    let empty = budget
        .get_exploration_budget_statistics(pb::GetExplorationBudgetStatisticsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (empty.total_adjustments, empty.current_budget),
        (0, None::<f64>)
    );
    server.stop().await;
}

#[tokio::test]
async fn an_existing_file_is_backfilled_once_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    {
        let sql = Connection::open(&db).unwrap();
        sql.execute_batch(include_str!("fixtures/original_schema.sql"))
            .unwrap();
        insert_budget(&sql, "a", "J", 0.2, "boost");
        insert_budget(&sql, "b", "J", 0.1, "decay");
        common::seed_applications(&sql, &[4, 1]);
    }
    for _ in 0..2 {
        let server = TestServer::start_on(db.clone()).await;
        assert_budget_statistics_exact(&server, Some("J")).await;
        assert_budget_statistics_exact(&server, None).await;
        assert_entropy_exact(&server).await;
        server.stop().await;
    }
}

/// The original store runs on Python's sqlite3 (SQLite 3.40 in the spec). A
/// file with our triggers must stay writable by it, and its writes counted.
/// Skipped where no python3 is installed (a failure in CI).
#[tokio::test]
async fn the_original_sqlite_writes_the_file_and_is_counted() {
    let server = TestServer::start().await;
    let script = r#"
import sqlite3, sys
print("python sqlite", sqlite3.sqlite_version)
c = sqlite3.connect(sys.argv[1], timeout=30.0)
c.execute("PRAGMA journal_mode=WAL")
c.execute("PRAGMA foreign_keys=ON")
c.execute("INSERT INTO patterns (id, pattern_type, pattern_name) VALUES ('py-p', 't', 'n')")
for i in range(5):
    c.execute("INSERT INTO pattern_applications (id, pattern_id, execution_id, applied_at, pattern_led_to_success) VALUES (?, 'py-p', 'e', '2025-01-01T10:00:00', 1)", ("py-a%d" % i,))
c.execute("INSERT INTO exploration_budget VALUES ('py-b1', 'PY', '2025-01-01T10:00:00', 0.15, NULL, 'initial', 'Initial budget set')")
c.execute("INSERT INTO exploration_budget VALUES ('py-b2', 'PY', '2025-01-01T10:00:01', 0.25, 0.1, 'boost', NULL)")
c.execute("INSERT INTO entropy_responses VALUES ('py-r', 'PY', '2025-01-01T10:00:02', 0.1, 0.3, '[]', 0, 0, '[]')")
c.execute("DELETE FROM pattern_applications WHERE id = 'py-a0'")
c.commit()
print(c.execute("PRAGMA integrity_check").fetchone()[0])
"#;
    let Some(stdout) = python::run(script, &server.db) else {
        server.stop().await;
        return;
    };
    eprintln!("{stdout}");
    assert!(stdout.trim_end().ends_with("ok"), "{stdout}");
    assert_entropy_exact(&server).await;
    assert_eq!(served_entropy(&server).await.total_applications, 4);
    assert_budget_statistics_exact(&server, Some("PY")).await;
    assert_budget_statistics_exact(&server, None).await;
    server.stop().await;
}

/// The original store's writes of applications and patterns: random
/// transactions on its own connection (Python's sqlite3), as the
/// original's runner and its `clear`/rename paths would make them.
const ORIGINAL_WRITER: &str = r#"
import random, sqlite3, sys, uuid
db, seed, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
c = sqlite3.connect(db, timeout=30.0)
c.execute("PRAGMA journal_mode=WAL")
c.execute("PRAGMA foreign_keys=ON")
shared = [r[0] for r in c.execute("SELECT id FROM patterns WHERE id NOT LIKE 'py-%'")]
own = [r[0] for r in c.execute("SELECT id FROM patterns WHERE id LIKE 'py-%'")]
def any_pattern():
    return rnd.choice(shared + own)
for r in range(rounds):
    op = rnd.random()
    if op < 0.75:
        for _ in range(rnd.randint(1, 6)):
            c.execute("INSERT INTO pattern_applications (id, pattern_id, execution_id, applied_at, pattern_led_to_success) VALUES (?, ?, 'py', '2025-01-01T10:00:00', 1)", (str(uuid.uuid4()), any_pattern()))
    elif op < 0.83:
        c.execute("DELETE FROM pattern_applications WHERE id IN (SELECT id FROM pattern_applications WHERE pattern_id = ? LIMIT 2)", (any_pattern(),))
    elif op < 0.89:
        c.execute("UPDATE pattern_applications SET pattern_id = ? WHERE id IN (SELECT id FROM pattern_applications WHERE pattern_id = ? LIMIT 3)", (any_pattern(), any_pattern()))
    elif op < 0.94 or not own:
        new = "py-%d-%d" % (seed, r)
        c.execute("INSERT INTO patterns (id, pattern_type, pattern_name) VALUES (?, 't', 'n')", (new,))
        own.append(new)
    elif op < 0.97:
        old = own.pop(rnd.randrange(len(own)))
        new = old + "-renamed"
        c.execute("UPDATE patterns SET id = ? WHERE id = ?", (new, old))
        own.append(new)
    else:
        # Its applications stay, as orphans the population ignores.
        c.execute("DELETE FROM patterns WHERE id = ?", (own.pop(rnd.randrange(len(own))),))
    c.commit()
print("python sqlite", sqlite3.sqlite_version, "rounds", rounds)
"#;

async fn record_application(server: &TestServer, pattern_id: &str, n: usize) {
    server
        .patterns()
        .record_pattern_application(pb::RecordPatternApplicationRequest {
            pattern_id: pattern_id.to_owned(),
            execution_id: format!("grpc-{n}"),
            pattern_led_to_success: n.is_multiple_of(2),
            request_id: String::new(),
        })
        .await
        .unwrap();
}

/// The cached entropy follows changes by the patterns that changed. Served
/// after each batch of the original store's transactions, and of the
/// service's own RPCs, it equals the full computation over the raw rows bit
/// for bit; and again after both wrote at the same time while 8 callers read.
#[tokio::test]
async fn entropy_stays_exact_while_the_original_store_and_the_service_write() {
    let server = TestServer::start().await;
    let counts: Vec<i64> = (0..60).map(|i| (i * 7) % 13).collect();
    let ids = common::seed_applications(&server.sql(), &counts);
    let db = server.db.to_string_lossy().into_owned();
    assert_entropy_exact(&server).await;

    for batch in 0..6_usize {
        let Some(writer) = python::spawn(ORIGINAL_WRITER, &[&db, &batch.to_string(), "40"]) else {
            server.stop().await;
            return;
        };
        python::finished(writer);
        assert_entropy_exact(&server).await;
        for n in 0..5 {
            record_application(&server, &ids[(batch * 11 + n * 3) % ids.len()], n).await;
            assert_entropy_exact(&server).await;
        }
    }
    // A pattern whose id is NULL: one group of the population, and a change
    // the log names as "recompute everything".
    server
        .sql()
        .execute(
            "INSERT INTO patterns (id, pattern_type, pattern_name) VALUES (NULL, 't', 'n')",
            [],
        )
        .unwrap();
    assert_entropy_exact(&server).await;

    let Some(writer) = python::spawn(ORIGINAL_WRITER, &[&db, "99", "400"]) else {
        server.stop().await;
        return;
    };
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..8)
        .map(|reader: usize| {
            let mut entropy = server.entropy();
            let done = done.clone();
            tokio::spawn(async move {
                let mut reads = 0;
                while !done.load(std::sync::atomic::Ordering::Relaxed) || reads == 0 {
                    if reader.is_multiple_of(2) {
                        entropy
                                .calculate_pattern_entropy(
                                    pb::CalculatePatternEntropyRequest::default(),
                                )
                                .await
                                .unwrap();
                    } else {
                        entropy
                            .check_entropy_response_needed(pb::CheckEntropyResponseNeededRequest {
                                job_hash: "job".into(),
                                cooldown_seconds: Some(0),
                                ..Default::default()
                            })
                            .await
                            .unwrap();
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for n in 0..200 {
        record_application(&server, &ids[n % ids.len()], n).await;
    }
    tokio::task::spawn_blocking(move || python::finished(writer))
        .await
        .unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        assert!(reader.await.unwrap() > 0);
    }
    assert_entropy_exact(&server).await;
    assert_check_reads_the_exact_diversity(&server).await;
    server.stop().await;
}
