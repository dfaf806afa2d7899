//! `backup` and `check`, run as an operator would: the binary, beside a
//! server that keeps writing.

mod common;

use std::{
    path::Path,
    process::{Command, Output},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use common::TestServer;
use learning_service::pb;
use tonic_health::pb::health_check_response::ServingStatus;

const BINARY: &str = env!("CARGO_BIN_EXE_learning-service");
const WRITERS: usize = 16;

fn run(args: &[&str], db: &Path) -> Output {
    Command::new(BINARY)
        .args(args)
        .arg("--db")
        .arg(db)
        .env_remove("LEARNING_DB")
        .output()
        .expect("run the binary")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn a_write(job: String) -> pb::UpdateExplorationBudgetRequest {
    pb::UpdateExplorationBudgetRequest {
        job_hash: job,
        budget_value: 0.2,
        adjustment_type: pb::AdjustmentType::Boost as i32,
        ..Default::default()
    }
}

/// A backup taken while 16 writers write holds every write acknowledged
/// before it started, passes the integrity check, and the server stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_holds_every_earlier_acknowledged_write() {
    let server = TestServer::start().await;
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Arc<Vec<AtomicU64>> =
        Arc::new((0..WRITERS).map(|_| AtomicU64::new(0)).collect());
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (mut client, stop, acknowledged) =
            (server.budget(), stop.clone(), acknowledged.clone());
        writers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                client
                    .update_exploration_budget(a_write(format!("writer-{writer}")))
                    .await
                    .expect("write");
                acknowledged[writer].fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    common::wait_until("every writer wrote", || {
        acknowledged.iter().all(|n| n.load(Ordering::SeqCst) >= 5)
    })
    .await;
    let before: Vec<u64> = acknowledged
        .iter()
        .map(|n| n.load(Ordering::SeqCst))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("backup.db");
    let (db, copy_path) = (server.db.clone(), copy.clone());
    let output = tokio::task::spawn_blocking(move || {
        let mut command = Command::new(BINARY);
        command
            .args(["backup", "--db"])
            .arg(&db)
            .arg("--to")
            .arg(&copy_path);
        command.output().unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("integrity ok"), "{}", text(&output));
    let after: u64 = acknowledged.iter().map(|n| n.load(Ordering::SeqCst)).sum();
    assert!(
        after > before.iter().sum::<u64>(),
        "the writers stopped during the backup"
    );
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(
        common::health_status(&mut server.health(), "")
            .await
            .unwrap(),
        ServingStatus::Serving
    );

    let copied = rusqlite::Connection::open(&copy).unwrap();
    for (writer, acknowledged) in before.iter().enumerate() {
        let rows: i64 = copied
            .query_row(
                "SELECT COUNT(*) FROM exploration_budget WHERE job_hash = ?1",
                [format!("writer-{writer}")],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            rows as u64 >= *acknowledged,
            "writer {writer}: {rows} < {acknowledged}"
        );
    }
    let check = run(&["check"], &copy);
    assert!(check.status.success(), "{}", text(&check));

    // Never over an existing file.
    let again = Command::new(BINARY)
        .args(["backup", "--db"])
        .arg(&server.db)
        .arg("--to")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        text(&again).contains("never overwrites"),
        "{}",
        text(&again)
    );
    server.stop().await;
}

#[tokio::test]
async fn check_passes_a_good_file_and_names_tampered_aggregates_and_damage() {
    let server = TestServer::start().await;
    let mut budget = server.budget();
    for _ in 0..3 {
        budget
            .update_exploration_budget(a_write("job-1".into()))
            .await
            .unwrap();
    }
    let good = run(&["check", "--json"], &server.db);
    assert!(good.status.success(), "{}", text(&good));
    let report: serde_json::Value = serde_json::from_slice(&good.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["rows"]["exploration_budget"], 3);
    assert_eq!(report["schema_version"], 15);

    server
        .sql()
        .execute(
            "UPDATE ls_budget_stats SET n = n + 5 WHERE all_jobs = 0 AND job_hash = 'job-1'",
            [],
        )
        .unwrap();
    let tampered = run(&["check"], &server.db);
    assert!(!tampered.status.success());
    let said = text(&tampered);
    assert!(said.contains("aggregates disagree"), "{said}");
    assert!(said.contains("\"job-1\": 8 kept, 3 counted"), "{said}");
    server.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let damaged = dir.path().join("damaged.db");
    let mut bytes = std::fs::read(server_db_copy(&dir)).unwrap();
    let (middle, length) = (bytes.len() / 2, 4096.min(bytes.len() / 2));
    for byte in &mut bytes[middle..middle + length] {
        *byte = 0xA5;
    }
    std::fs::write(&damaged, bytes).unwrap();
    let broken = run(&["check"], &damaged);
    assert!(!broken.status.success());
    let said = text(&broken);
    assert!(
        said.contains("damaged") || said.contains("malformed"),
        "{said}"
    );
}

/// A database of a few pages, written and checkpointed, to damage.
fn server_db_copy(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("good.db");
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection
        .execute_batch(include_str!("fixtures/original_schema.sql"))
        .unwrap();
    for n in 0..2000 {
        connection
            .execute(
                "INSERT INTO exploration_budget (id, job_hash, recorded_at, budget_value, \
                 adjustment_type) VALUES (?1, 'j', '2025-01-01T00:00:00', 0.1, 'boost')",
                [format!("id-{n}")],
            )
            .unwrap();
    }
    drop(connection);
    path
}
