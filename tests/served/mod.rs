//! The service binary run as a process of its own, for what lives in the
//! process: the log subscriber, the metrics recorder, the span exporter.
//! Each test gets a fresh process, so its counters start at zero.

#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::mpsc,
    time::timeout,
};
use tonic::transport::Channel;

pub const WAIT: Duration = Duration::from_secs(20);

pub struct Served {
    pub child: Child,
    pub address: String,
    pub metrics_address: Option<String>,
    pub db: PathBuf,
    /// Every line of standard error after the start-up lines read here.
    pub log: mpsc::UnboundedReceiver<String>,
    /// The start-up lines (up to the gRPC address).
    pub startup_log: Vec<String>,
}

/// The value of `key=value` in a text log line, or of `"key":"value"` in a JSON one.
fn field(line: &str, key: &str) -> Option<String> {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(line) {
        return map.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    }
    let rest = line.split(&format!(" {key}=")).nth(1)?;
    rest.split_whitespace().next().map(str::to_owned)
}

impl Served {
    /// `serve --listen 127.0.0.1:0 --db <dir>/learning.db` plus `args`;
    /// returns once the gRPC address (and the metrics address, when
    /// `--metrics-listen` is given) is logged.
    pub async fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_on(&dir.join("learning.db"), args, env).await
    }

    /// The same over `db`: a SQLite path or a `postgres://` URL. The health
    /// probe is off unless `args` set `--health-check-interval`.
    pub async fn start_on(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let db = db.to_path_buf();
        let mut command = Command::new(env!("CARGO_BIN_EXE_learning-service"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(&db);
        if !args.contains(&"--health-check-interval") {
            command.args(["--health-check-interval", "0s"]);
        }
        command
            .args(args)
            .env("NO_COLOR", "1")
            .env("LEARNING_LOG", "info")
            .env_remove("LEARNING_LOG_FORMAT")
            .env_remove("LEARNING_METRICS_LISTEN")
            .env_remove("LEARNING_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start the server");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let wants_metrics = args.contains(&"--metrics-listen");
        let (mut address, mut metrics_address, mut startup_log) = (None, None, Vec::new());
        while address.is_none() || (wants_metrics && metrics_address.is_none()) {
            let line = timeout(WAIT, lines.next_line())
                .await
                .expect("the server did not start in time")
                .expect("read the log")
                .unwrap_or_else(|| panic!("the server exited: {startup_log:#?}"));
            address = address.or_else(|| field(&line, "address"));
            metrics_address = metrics_address.or_else(|| field(&line, "metrics_address"));
            startup_log.push(line);
        }
        let (sender, log) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            address: address.expect("address"),
            metrics_address,
            db,
            log,
            startup_log,
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.address))
            .expect("uri")
            .connect()
            .await
            .expect("connect")
    }

    /// The next log line, failing after [`WAIT`].
    pub async fn next_log_line(&mut self) -> String {
        timeout(WAIT, self.log.recv())
            .await
            .expect("no log line in time")
            .expect("the server's log ended")
    }

    /// SIGKILL: the process ends at once, as in a crash.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill -9");
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().expect("pid").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let status = timeout(WAIT, self.child.wait())
            .await
            .expect("the server did not stop in time")
            .expect("wait");
        assert!(status.success(), "{status:?}");
        let mut rest = Vec::new();
        while let Some(line) = self.log.recv().await {
            rest.push(line);
        }
        rest
    }
}
