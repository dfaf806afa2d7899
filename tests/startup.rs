//! The binary: refuses files it must not touch, starts on a new file, stops on SIGTERM.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

const BINARY: &str = env!("CARGO_BIN_EXE_learning-service");

fn refuse(db: &Path, expected: &str) {
    let before = std::fs::read(db).unwrap();
    let output = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("LEARNING_LOG", "error")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(expected),
        "{stderr}"
    );
    assert_eq!(std::fs::read(db).unwrap(), before, "file untouched");
    let wal = db.with_extension("db-wal");
    assert!(!wal.exists());
}

#[test]
fn refuses_a_file_that_is_not_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.db");
    std::fs::write(&db, "these are my notes, not a database\n".repeat(10)).unwrap();
    refuse(&db, "is not a SQLite database");
}

#[test]
fn refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("future.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE schema_version (version INTEGER PRIMARY KEY); INSERT INTO schema_version VALUES (16);")
            .unwrap();
    }
    refuse(&db, "schema version 16, newer than the 15");
}

#[test]
fn starts_on_a_new_file_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    let mut child = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env("LEARNING_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("serving learning.v1"), "{line}");
    assert!(db.exists());
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let c = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = c
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 15);
}

#[test]
fn refuses_bad_loop_settings_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    for (flags, expected) in [
        (
            vec![
                "--entropy-sample-interval",
                "1m",
                "--entropy-alert-threshold",
                "2",
            ],
            "--entropy-alert-threshold must be between 0 and 1, got 2",
        ),
        (
            vec![
                "--auto-respond-jobs",
                "a,b",
                "--auto-respond-floor",
                "0.6",
                "--auto-respond-ceiling",
                "0.4",
            ],
            "--auto-respond-floor (0.6) must not exceed --auto-respond-ceiling (0.4)",
        ),
    ] {
        let output = Command::new(BINARY)
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(&db)
            .args(&flags)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim(), format!("error: {expected}"));
        assert!(
            !db.exists(),
            "nothing created before the settings are checked"
        );
    }
}
