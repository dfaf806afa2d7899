//! SIGTERM during a burst of writes: every acknowledged write is in the file.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use learning_service::pb::{self, budget_service_client::BudgetServiceClient};
use tonic::transport::Channel;

const BINARY: &str = env!("CARGO_BIN_EXE_learning-service");

/// Starts the binary on a free port; returns it and its address, read from its log.
fn start(db: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("LEARNING_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("log line").unwrap();
        if let Some(rest) = line.split("address=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, address)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_write_survives_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    let (mut child, address) = start(&db);
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    let mut writers = Vec::new();
    for writer in 0..16 {
        let mut client = BudgetServiceClient::new(channel.clone());
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            loop {
                let answer = client
                    .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
                        job_hash: format!("writer-{writer}"),
                        budget_value: 0.2,
                        adjustment_type: pb::AdjustmentType::Boost as i32,
                        ..Default::default()
                    })
                    .await;
                match answer {
                    Ok(answer) => acknowledged.push(answer.into_inner().record.unwrap().id),
                    Err(_) => return acknowledged,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());

    let mut acknowledged = Vec::new();
    for writer in writers {
        let ids = tokio::time::timeout(Duration::from_secs(20), writer)
            .await
            .expect("writers stop once the server is gone")
            .unwrap();
        acknowledged.extend(ids);
    }
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!acknowledged.is_empty());

    let connection = rusqlite::Connection::open(&db).unwrap();
    let mut find = connection
        .prepare("SELECT COUNT(*) FROM exploration_budget WHERE id = ?1")
        .unwrap();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| find.query_row([id], |r| r.get::<_, i64>(0)).unwrap() != 1)
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes missing",
        missing.len(),
        acknowledged.len()
    );
}

/// A call that never finishes does not hold shutdown beyond the grace period,
/// and the write it queued is still committed when the store closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_up_on_open_calls_after_the_grace_period() {
    use learning_service::{
        limits::Limits,
        server::{self, ServerOptions},
        store::{Store, StoreOptions, sqlite::SqliteStore},
    };

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    let store: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(SqliteStore::open(&db, StoreOptions::default()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let options = ServerOptions {
        shutdown_grace: Duration::from_millis(300),
        limits: Limits {
            request_timeout_max: None,
            ..Limits::default()
        },
        health_check_interval: Duration::ZERO,
        ..ServerOptions::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::serve(store.clone(), listener, options, async {
        let _ = stopped.await;
    }));

    // Another program holds the write lock, so the write below stays in flight.
    let blocker = rusqlite::Connection::open(&db).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = BudgetServiceClient::new(channel);
    let _in_flight = tokio::spawn(async move {
        client
            .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
                job_hash: "stuck".into(),
                budget_value: 0.2,
                adjustment_type: pb::AdjustmentType::Boost as i32,
                ..Default::default()
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = std::time::Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("serve returns after the grace period")
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");

    blocker.execute_batch("COMMIT").unwrap();
    tokio::task::spawn_blocking(move || store.close(Duration::from_secs(10)))
        .await
        .unwrap();
    let rows: i64 = blocker
        .query_row(
            "SELECT COUNT(*) FROM exploration_budget WHERE job_hash = 'stuck'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 1, "the queued write was committed at close");
}

/// A write stuck behind another program's lock does not hold the shutdown:
/// closing the store stops waiting for the lock and returns within its grace
/// while the lock is still held (the stuck write was never acknowledged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_does_not_wait_for_another_programs_lock() {
    use learning_service::store::{Store, StoreOptions, sqlite::SqliteStore};

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    let store: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(SqliteStore::open(&db, StoreOptions::default()).unwrap());
    let blocker = rusqlite::Connection::open(&db).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let stuck = {
        let store = store.clone();
        tokio::spawn(async move {
            let pattern = learning_service::domain::records::NewPattern {
                pattern_type: "t".into(),
                pattern_name: "stuck".into(),
                description: None,
                quarantine_status: learning_service::domain::records::QuarantineStatus::Pending,
                instrument_name: None,
            };
            let write = learning_service::store::Write::RecordPattern(pattern);
            store.write(write, None).await
        })
    };
    // The writer has taken the write and waits for the lock.
    while store.write_counts().operations == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Closing on a blocking thread; the lock is released only if it hangs.
    let closing = tokio::task::spawn_blocking({
        let store = store.clone();
        move || store.close(Duration::from_millis(500))
    });
    tokio::time::timeout(Duration::from_secs(60), closing)
        .await
        .expect("close waited for the other program's lock")
        .unwrap();
    blocker.execute_batch("ROLLBACK").unwrap();
    // Answered one way or the other once the lock is free; never hangs.
    let _ = stuck.await.unwrap();
}
