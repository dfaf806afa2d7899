//! The binary's security flags: environment variables, clear one-line errors
//! for unusable files, and the warning for an exposed, unprotected server.

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
};

const BINARY: &str = env!("CARGO_BIN_EXE_learning-service");

/// Runs `serve` with `env`, expecting it to refuse; returns its one line.
fn refused(db: &std::path::Path, env: &[(&str, &std::path::Path)]) -> String {
    let mut command = Command::new(BINARY);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("LEARNING_LOG", "error");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(!db.exists(), "the database was created before the refusal");
    stderr
}

#[test]
fn unreadable_token_and_certificate_files_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    let nowhere = dir.path().join("nowhere");
    let line = refused(&db, &[("LEARNING_AUTH_TOKEN_FILE", &nowhere)]);
    assert!(
        line.contains("cannot read the token file") && line.contains("nowhere"),
        "{line}"
    );

    let empty = dir.path().join("tokens");
    std::fs::write(&empty, "# nobody yet\n").unwrap();
    let line = refused(&db, &[("LEARNING_AUTH_TOKEN_FILE", &empty)]);
    assert!(line.contains("no token"), "{line}");

    let line = refused(
        &db,
        &[("LEARNING_TLS_CERT", &empty), ("LEARNING_TLS_KEY", &empty)],
    );
    assert!(
        line.contains("--tls-cert") && line.contains("CERTIFICATE"),
        "{line}"
    );
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = common::certs::TestCa::new("test CA");
    let (server, other) = (ca.server(), ca.server());
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &server.cert).unwrap();
    std::fs::write(&key, &other.key).unwrap();
    let line = refused(
        &dir.path().join("learning.db"),
        &[("LEARNING_TLS_CERT", &cert), ("LEARNING_TLS_KEY", &key)],
    );
    assert!(
        line.starts_with("error: TLS: ") && line.contains("KeyMismatch"),
        "{line}"
    );

    std::fs::write(&key, &server.key).unwrap();
    let garbage = dir.path().join("ca.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let line = refused(
        &dir.path().join("learning.db"),
        &[
            ("LEARNING_TLS_CERT", &cert),
            ("LEARNING_TLS_KEY", &key),
            ("LEARNING_TLS_CLIENT_CA", &garbage),
        ],
    );
    assert!(line.starts_with("error: TLS: "), "{line}");
}

#[test]
fn a_certificate_without_its_key_is_a_usage_error() {
    let output = Command::new(BINARY)
        .args(["serve", "--tls-cert", "cert.pem"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--tls-key"), "{stderr}");
}

#[test]
fn an_exposed_server_without_tls_or_tokens_warns_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BINARY)
        .args(["serve", "--listen", "0.0.0.0:0", "--db"])
        .arg(dir.path().join("learning.db"))
        .env("LEARNING_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut before_serving = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("serving learning.v1") {
            break;
        }
        before_serving.push(line);
    }
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let warnings: Vec<&String> = before_serving
        .iter()
        .filter(|l| l.contains("WARN"))
        .collect();
    assert_eq!(warnings.len(), 2, "{before_serving:?}");
    assert!(warnings[0].contains("TLS is off"), "{warnings:?}");
    assert!(warnings[1].contains("no token is required"), "{warnings:?}");
}
