//! Running the CLI binary in tests, and a server that can be restarted on
//! the same address (for --watch's reconnection).

#![allow(dead_code)]

pub mod certs;
pub mod proxy;

use std::{net::SocketAddr, path::Path, process::Stdio, sync::Arc, time::Duration};

use learning_service::{
    server::{self, ServerOptions},
    store::{Store, StoreOptions},
};
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    net::TcpListener,
    process::{Child, ChildStderr, ChildStdout, Command},
    sync::oneshot,
    task::JoinHandle,
    time::timeout,
};

pub const WAIT: Duration = Duration::from_secs(20);

/// Every variable the CLI reads, so the caller's environment cannot leak in.
const CLIENT_VARIABLES: &[&str] = &[
    "LEARNING_SERVER",
    "LEARNING_TLS_CA",
    "LEARNING_CLIENT_CERT",
    "LEARNING_CLIENT_KEY",
    "LEARNING_TOKEN_FILE",
    "LEARNING_TOKEN",
    "LEARNING_TIMEOUT",
];

pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_learning-service"));
    for variable in CLIENT_VARIABLES {
        command.env_remove(variable);
    }
    command
        .env("NO_COLOR", "1")
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        assert_eq!(self.code, Some(0), "stderr: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "stderr: {}", self.stderr);
        &self.stdout
    }
}

/// Runs the CLI to completion.
pub async fn run(args: &[&str]) -> Run {
    run_with(command(args)).await
}

pub async fn run_with(mut command: Command) -> Run {
    let output = timeout(WAIT, command.output())
        .await
        .expect("the CLI did not finish in time")
        .expect("run the CLI");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A running `entropy --watch`, read line by line.
pub struct Watch {
    pub child: Child,
    pub stdout: Lines<BufReader<ChildStdout>>,
    pub stderr: Lines<BufReader<ChildStderr>>,
}

impl Watch {
    pub fn spawn(args: &[&str]) -> Self {
        let mut child = command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the CLI");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
        Self {
            child,
            stdout,
            stderr,
        }
    }

    pub async fn line(&mut self) -> String {
        timeout(WAIT, self.stdout.next_line())
            .await
            .expect("no output line in time")
            .expect("read stdout")
            .expect("stdout closed")
    }

    /// Reads standard error until a line contains `text`; returns the lines read.
    pub async fn wait_for_stderr(&mut self, text: &str) -> Vec<String> {
        let mut seen = Vec::new();
        let found = timeout(WAIT, async {
            while let Some(line) = self.stderr.next_line().await.expect("read stderr") {
                let done = line.contains(text);
                seen.push(line);
                if done {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(matches!(found, Ok(true)), "no {text:?} on stderr: {seen:?}");
        seen
    }

    /// Sends SIGINT, as Ctrl-C does, and returns the exit code.
    pub async fn interrupt(mut self) -> Option<i32> {
        let pid = self.child.id().expect("running").to_string();
        let sent = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .await
            .expect("kill");
        assert!(sent.success());
        timeout(WAIT, self.child.wait())
            .await
            .expect("the watch did not stop")
            .expect("wait")
            .code()
    }

    /// Waits for the process to end by itself; returns its code and remaining stderr.
    pub async fn exit(mut self) -> (Option<i32>, String) {
        let status = timeout(WAIT, self.child.wait())
            .await
            .expect("the watch did not stop")
            .expect("wait");
        let mut rest = Vec::new();
        while let Ok(Some(line)) = self.stderr.next_line().await {
            rest.push(line);
        }
        (status.code(), rest.join("\n"))
    }
}

/// A server on a chosen address, so a restart keeps the address.
pub struct Restartable {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    store: Arc<dyn Store>,
}

impl Restartable {
    pub async fn start(db: &Path, address: SocketAddr) -> Self {
        // The test's backend (a SQLite file, or a schema of PostgreSQL named after `db`).
        let (store, _) = crate::common::backend::open(db, StoreOptions::default()).await;
        let listener = TcpListener::bind(address).await.expect("bind");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = store.clone();
        let task = tokio::spawn(async move {
            server::serve(served, listener, ServerOptions::default(), async {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
        });
        Self { stop, task, store }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
        self.store.close(Duration::from_secs(10));
    }
}

/// An address nothing listens on.
pub async fn free_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("address")
}
