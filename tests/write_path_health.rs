//! Health follows the write path: the probe commits a real write, and the
//! write-ahead log (`-wal`) is watched like the database file. A log that
//! cannot be written (made immutable with `chattr +i`, as a failing disk
//! would refuse writes; root alone cannot write through it) makes health
//! NOT_SERVING until it can be written again; a log removed or replaced while
//! the service runs refuses writes, since every commit would go to a file
//! that is lost.

mod common;

use std::{path::PathBuf, process::Command, time::Duration};

use common::{TestServer, wait_for_health};
use learning_service::pb;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

const WITHIN: Duration = Duration::from_secs(10);

fn a_write(job: &str) -> pb::UpdateExplorationBudgetRequest {
    pb::UpdateExplorationBudgetRequest {
        job_hash: job.into(),
        budget_value: 0.2,
        adjustment_type: pb::AdjustmentType::Boost as i32,
        ..Default::default()
    }
}

fn wal_of(server: &TestServer) -> PathBuf {
    let mut path = server.db.clone().into_os_string();
    path.push("-wal");
    PathBuf::from(path)
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// The immutable flag on a file, taken off again when dropped (so that a
/// failing test still lets its directory be removed).
struct Immutable(PathBuf);

impl Immutable {
    /// None when this machine cannot set the flag (not root, or a file
    /// system without it): the caller skips, except in CI, where it fails.
    fn set(path: PathBuf) -> Option<Self> {
        let output = Command::new("chattr").arg("+i").arg(&path).output();
        match output {
            Ok(output) if output.status.success() => Some(Self(path)),
            other => {
                let why = format!(
                    "cannot make {} immutable with chattr: {other:?}",
                    path.display()
                );
                assert!(
                    !in_ci(),
                    "CI=true needs chattr +i (root, ext4 or tmpfs): {why}"
                );
                eprintln!("skipped: {why}");
                None
            }
        }
    }

    fn clear(&self) {
        let status = Command::new("chattr").arg("-i").arg(&self.0).status();
        assert!(status.is_ok_and(|s| s.success()), "chattr -i failed");
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

/// Polls writes until one is refused with UNAVAILABLE; returns its message.
async fn refused_write(server: &TestServer) -> String {
    let deadline = tokio::time::Instant::now() + WITHIN;
    let mut budget = server.budget();
    loop {
        match budget.update_exploration_budget(a_write("refused")).await {
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                return status.message().to_owned();
            }
            Ok(_) => assert!(
                tokio::time::Instant::now() < deadline,
                "writes are still accepted"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_unwritable_log_is_not_serving_until_it_can_be_written_again() {
    let server = TestServer::probed_often().await;
    let mut budget = server.budget();
    budget
        .update_exploration_budget(a_write("J"))
        .await
        .unwrap();
    wait_for_health(&server, "", ServingStatus::Serving, WITHIN).await;

    let Some(immutable) = Immutable::set(wal_of(&server)) else {
        return;
    };
    // No call is needed for health to notice: the probe's own write fails.
    wait_for_health(&server, "", ServingStatus::NotServing, WITHIN).await;
    wait_for_health(
        &server,
        "learning.v1.BudgetService",
        ServingStatus::NotServing,
        WITHIN,
    )
    .await;
    let message = refused_write(&server).await;
    assert!(message.contains("I/O error"), "{message}");
    // Reads go on.
    budget
        .get_exploration_budget(pb::GetExplorationBudgetRequest::default())
        .await
        .expect("reads work");

    immutable.clear();
    wait_for_health(&server, "", ServingStatus::Serving, WITHIN).await;
    budget
        .update_exploration_budget(a_write("J"))
        .await
        .expect("writes work again");
    let stored: i64 = server
        .sql()
        .query_row(
            "SELECT COUNT(*) FROM exploration_budget WHERE job_hash = 'J'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, 2);
    server.stop().await;
}

#[tokio::test]
async fn a_removed_log_refuses_writes_and_is_not_serving() {
    let server = TestServer::probed_often().await;
    let mut budget = server.budget();
    let acknowledged = budget
        .update_exploration_budget(a_write("J"))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap()
        .id;
    wait_for_health(&server, "", ServingStatus::Serving, WITHIN).await;
    let wal = wal_of(&server);
    let moved = server.db.with_extension("moved-wal");

    // Renamed: refused until it is back.
    std::fs::rename(&wal, &moved).unwrap();
    let message = refused_write(&server).await;
    assert!(message.contains("write-ahead log"), "{message}");
    assert!(
        !message.contains(&*server.db.to_string_lossy()),
        "no path: {message}"
    );
    wait_for_health(&server, "", ServingStatus::NotServing, WITHIN).await;
    std::fs::rename(&moved, &wal).unwrap();
    wait_for_health(&server, "", ServingStatus::Serving, WITHIN).await;
    budget
        .update_exploration_budget(a_write("J"))
        .await
        .expect("the log is back");

    // Removed: refused for good, and health says so.
    std::fs::remove_file(&wal).unwrap();
    let message = refused_write(&server).await;
    assert!(message.contains("write-ahead log"), "{message}");
    wait_for_health(&server, "", ServingStatus::NotServing, WITHIN).await;
    for _ in 0..3 {
        let refused = budget
            .update_exploration_budget(a_write("after removal"))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    }
    // The acknowledged writes reach the database file itself (the
    // checkpoints copy the removed log into it): a copy of the file alone,
    // without any log, has them.
    let copy_dir = tempfile::tempdir().unwrap();
    let copy = copy_dir.path().join("copy.db");
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        std::fs::copy(&server.db, &copy).unwrap();
        let ids: Vec<String> = rusqlite::Connection::open(&copy)
            .unwrap()
            .prepare("SELECT id FROM exploration_budget")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        if ids.len() == 2 && ids.contains(&acknowledged) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "acknowledged writes are not in the file: {ids:?}"
        );
        std::fs::remove_file(&copy).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}
