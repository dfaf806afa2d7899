//! Another program (the original store) writes the same file while the
//! service runs: no SQLITE_BUSY reaches a client, and nothing is lost.

mod common;

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use common::TestServer;
use learning_service::pb::{self, AdjustmentType};
use rusqlite::{Connection, params};

const GRPC_CALLERS: usize = 8;
const CALLS_PER_CALLER: usize = 30;

/// What the original store does for every call: a new connection with its pragmas.
fn original_connection(db: &std::path::Path) -> Connection {
    let connection = Connection::open(db).expect("open");
    connection
        .execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
        .expect("pragmas");
    connection
        .busy_timeout(Duration::from_secs(30))
        .expect("busy timeout");
    connection
}

fn now_text() -> String {
    chrono::Local::now()
        .naive_local()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

/// Rows the other program wrote, by table.
#[derive(Default)]
struct Written {
    budget: Vec<String>,
    applications: Vec<String>,
    responses: Vec<String>,
}

/// Writes in the original's formats until `stop`, one statement per
/// transaction, and now and then a transaction that keeps the write lock for
/// a while (as a slow caller of the original would).
fn original_writer(db: std::path::PathBuf, pattern_id: String, stop: Arc<AtomicBool>) -> Written {
    let mut written = Written::default();
    let mut round = 0;
    while !stop.load(Ordering::Relaxed) || round < 20 {
        round += 1;
        let connection = original_connection(&db);
        let id = uuid::Uuid::new_v4().to_string();
        match round % 3 {
            0 => {
                connection
                    .execute(
                        "INSERT INTO exploration_budget (id, job_hash, recorded_at, budget_value, \
                         entropy_at_time, adjustment_type, adjustment_reason) \
                         VALUES (?1, 'original-job', ?2, 0.2, 0.1, 'boost', 'by the original')",
                        params![id, now_text()],
                    )
                    .expect("insert budget");
                written.budget.push(id);
            }
            1 => {
                connection
                    .execute(
                        "INSERT INTO pattern_applications (id, pattern_id, execution_id, \
                         applied_at, pattern_led_to_success) VALUES (?1, ?2, 'exec', ?3, 1)",
                        params![id, pattern_id, now_text()],
                    )
                    .expect("insert application");
                written.applications.push(id);
            }
            _ => {
                connection
                    .execute(
                        "INSERT INTO entropy_responses (id, job_hash, recorded_at, \
                         entropy_at_trigger, threshold_used, actions_taken, budget_boosted, \
                         quarantine_revisits, patterns_revisited) \
                         VALUES (?1, 'original-job', ?2, 0.1, 0.3, '[\"budget_boost\"]', 1, 0, '[]')",
                        params![id, now_text()],
                    )
                    .expect("insert response");
                written.responses.push(id);
            }
        }
        if round % 10 == 0 {
            // A long write transaction: the service's writer has to wait for it.
            let id = uuid::Uuid::new_v4().to_string();
            connection
                .execute_batch("BEGIN IMMEDIATE")
                .expect("begin immediate");
            connection
                .execute(
                    "INSERT INTO exploration_budget (id, job_hash, recorded_at, budget_value, \
                     adjustment_type) VALUES (?1, 'original-job', ?2, 0.3, 'decay')",
                    params![id, now_text()],
                )
                .expect("insert in a long transaction");
            std::thread::sleep(Duration::from_millis(150));
            connection.execute_batch("COMMIT").expect("commit");
            written.budget.push(id);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    written
}

fn count(connection: &Connection, sql: &str) -> i64 {
    connection.query_row(sql, [], |r| r.get(0)).expect(sql)
}

fn missing(connection: &Connection, table: &str, ids: &[String]) -> Vec<String> {
    let mut statement = connection
        .prepare(&format!("SELECT COUNT(*) FROM {table} WHERE id = ?1"))
        .expect("prepare");
    ids.iter()
        .filter(|id| {
            statement
                .query_row([id], |r| r.get::<_, i64>(0))
                .expect("count")
                != 1
        })
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_program_writing_the_file_loses_nothing_and_busies_no_client() {
    let server = TestServer::start().await;
    let pattern_id = common::seed_applications(&server.sql(), &[1]).remove(0);
    let stop = Arc::new(AtomicBool::new(false));
    let other = {
        let (db, pattern_id, stop) = (server.db.clone(), pattern_id.clone(), stop.clone());
        std::thread::spawn(move || original_writer(db, pattern_id, stop))
    };

    let mut callers = Vec::new();
    for caller in 0..GRPC_CALLERS {
        let (mut budget, mut entropy, mut patterns) =
            (server.budget(), server.entropy(), server.patterns());
        let pattern_id = pattern_id.clone();
        callers.push(tokio::spawn(async move {
            let job = format!("grpc-{caller}");
            let (mut budget_ids, mut application_ids, mut response_ids) =
                (Vec::new(), Vec::new(), Vec::new());
            for call in 0..CALLS_PER_CALLER {
                match call % 5 {
                    0 => {
                        let r = budget
                            .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
                                job_hash: job.clone(),
                                budget_value: 0.2,
                                adjustment_type: AdjustmentType::Boost as i32,
                                ..Default::default()
                            })
                            .await
                            .expect("update");
                        budget_ids.push(r.into_inner().record.expect("record").id);
                    }
                    1 => {
                        let r = budget
                            .calculate_budget_adjustment(pb::CalculateBudgetAdjustmentRequest {
                                job_hash: job.clone(),
                                current_entropy: 0.5,
                                ..Default::default()
                            })
                            .await
                            .expect("adjust");
                        budget_ids.push(r.into_inner().record.expect("record").id);
                    }
                    2 => {
                        let r = patterns
                            .record_pattern_application(pb::RecordPatternApplicationRequest {
                                pattern_id: pattern_id.clone(),
                                execution_id: job.clone(),
                                pattern_led_to_success: true,
                                ..Default::default()
                            })
                            .await
                            .expect("application");
                        application_ids.push(r.into_inner().application_id);
                    }
                    3 => {
                        let r = entropy
                            .trigger_entropy_response(pb::TriggerEntropyResponseRequest {
                                trigger: Some(pb::EntropyTriggerContext {
                                    job_hash: job.clone(),
                                    entropy_at_trigger: 0.1,
                                    threshold_used: 0.3,
                                    snapshot_id: None,
                                }),
                                config: Some(pb::EntropyResponseConfig {
                                    boost_budget: Some(false),
                                    ..Default::default()
                                }),
                                ..Default::default()
                            })
                            .await
                            .expect("trigger");
                        response_ids.push(r.into_inner().record.expect("record").id);
                    }
                    _ => {
                        // Reads go through the pool while the other program writes.
                        budget
                            .get_exploration_budget_history(
                                pb::GetExplorationBudgetHistoryRequest::default(),
                            )
                            .await
                            .expect("history");
                        entropy
                            .calculate_pattern_entropy(pb::CalculatePatternEntropyRequest::default())
                            .await
                            .expect("entropy");
                    }
                }
            }
            (budget_ids, application_ids, response_ids)
        }));
    }
    let (mut budget_ids, mut application_ids, mut response_ids) =
        (Vec::new(), Vec::new(), Vec::new());
    for caller in callers {
        let (b, a, r) = caller.await.expect("caller");
        budget_ids.extend(b);
        application_ids.extend(a);
        response_ids.extend(r);
    }
    stop.store(true, Ordering::Relaxed);
    let written = tokio::task::spawn_blocking(move || other.join().expect("other program"))
        .await
        .expect("join");

    let sql = server.sql();
    for (table, ids) in [
        ("exploration_budget", &budget_ids),
        ("exploration_budget", &written.budget),
        ("pattern_applications", &application_ids),
        ("pattern_applications", &written.applications),
        ("entropy_responses", &response_ids),
        ("entropy_responses", &written.responses),
    ] {
        assert_eq!(missing(&sql, table, ids), Vec::<String>::new(), "{table}");
    }
    assert_eq!(
        count(&sql, "SELECT COUNT(*) FROM exploration_budget"),
        (budget_ids.len() + written.budget.len()) as i64
    );
    // The seeded application, then every new one.
    assert_eq!(
        count(&sql, "SELECT COUNT(*) FROM pattern_applications"),
        (1 + application_ids.len() + written.applications.len()) as i64
    );
    assert_eq!(
        count(&sql, "SELECT COUNT(*) FROM entropy_responses"),
        (response_ids.len() + written.responses.len()) as i64
    );
    let distinct: HashSet<&String> = budget_ids.iter().chain(&written.budget).collect();
    assert_eq!(distinct.len(), budget_ids.len() + written.budget.len());
    assert!(
        written.budget.len() >= 7,
        "the other program wrote too little"
    );
    server.stop().await;
}
