//! Real file-system faults, on a small tmpfs mounted in a private mount
//! namespace of the server process (`unshare -m`), so nothing outside the
//! test sees it and it disappears with the process. The test reaches the
//! tmpfs through `/proc/<pid>/root`. Where mounting is not allowed (no root),
//! these tests say so and pass without running, except with `CI=true`, where
//! the missing capability fails them.

#[path = "support/prerequisite.rs"]
mod prerequisite;

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use learning_service::pb::{self, pattern_service_client::PatternServiceClient};
use tonic::{Code, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const BINARY: &str = env!("CARGO_BIN_EXE_learning-service");

fn can_mount_tmpfs() -> bool {
    let dir = tempfile::tempdir().unwrap();
    let mounted = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o size=1m tmpfs "$0""#)
        .arg(dir.path())
        .stderr(Stdio::null())
        .status();
    let can = mounted.is_ok_and(|s| s.success());
    let why = "this machine does not allow mounting a tmpfs in a mount namespace";
    if !can {
        prerequisite::missing(why);
    }
    can
}

/// `serve` in its own mount namespace, after `setup` (a shell script whose
/// `$0` is the mount point, `$1` the binary and `$2` `extra`).
fn command_on_tmpfs(mountpoint: &Path, setup: &str, extra: &Path, serve_args: &[&str]) -> Command {
    let script = format!(
        r#"{setup} && binary="$1" && shift 2 && exec "$binary" serve --listen 127.0.0.1:0 --db "$0/learning.db" "$@""#
    );
    let mut command = Command::new("unshare");
    command
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .arg(mountpoint)
        .arg(BINARY)
        .arg(extra)
        .args(serve_args)
        .env("NO_COLOR", "1")
        .env("LEARNING_LOG", "info");
    command
}

struct Running {
    child: Child,
    address: String,
    log: Arc<Mutex<Vec<String>>>,
    /// The tmpfs, as seen from outside the namespace.
    root: PathBuf,
}

fn start(mut command: Command, mountpoint: &Path) -> Running {
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = Arc::new(Mutex::new(Vec::new()));
    let address = loop {
        let line = lines.next().expect("server log").unwrap();
        log.lock().unwrap().push(line.clone());
        if let Some(rest) = line.split("address=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let kept = log.clone();
    std::thread::spawn(move || lines.for_each(|l| kept.lock().unwrap().extend(l.ok())));
    let root = PathBuf::from(format!("/proc/{}/root{}", child.id(), mountpoint.display()));
    Running {
        child,
        address,
        log,
        root,
    }
}

async fn wait_for(health: &mut HealthClient<Channel>, expected: ServingStatus) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = health
            .check(HealthCheckRequest::default())
            .await
            .unwrap()
            .into_inner()
            .status();
        if status == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "health stays {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn big_pattern(index: usize) -> pb::RecordPatternRequest {
    pb::RecordPatternRequest {
        pattern_type: "t".into(),
        pattern_name: format!("p{index}"),
        description: Some("d".repeat(4000)),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_full_disk_is_unavailable_and_not_serving_until_space_is_freed() {
    if !can_mount_tmpfs() {
        return;
    }
    let mountpoint = tempfile::tempdir().unwrap();
    let command = command_on_tmpfs(
        mountpoint.path(),
        r#"mount -t tmpfs -o size=8m tmpfs "$0""#,
        Path::new("-"),
        &["--health-check-interval", "100ms"],
    );
    let server = start(command, mountpoint.path());
    let channel = Channel::from_shared(format!("http://{}", server.address))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    let mut patterns = PatternServiceClient::new(channel);
    wait_for(&mut health, ServingStatus::Serving).await;
    patterns.record_pattern(big_pattern(0)).await.expect("room");

    let filler = server.root.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    drop(file);
    wait_for(&mut health, ServingStatus::NotServing).await;

    let mut refused = None;
    for index in 1..200 {
        if let Err(status) = patterns.record_pattern(big_pattern(index)).await {
            refused = Some(status);
            break;
        }
    }
    let refused = refused.expect("a write failed on the full disk");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(refused.message().contains("is full"), "{refused:?}");

    std::fs::remove_file(&filler).unwrap();
    wait_for(&mut health, ServingStatus::Serving).await;
    patterns
        .record_pattern(big_pattern(1000))
        .await
        .expect("room again");

    let log = server.log.lock().unwrap().join("\n");
    assert!(
        log.contains("the store is unusable") && log.contains("bytes free"),
        "{log}"
    );
    assert!(log.contains("the store works again"), "{log}");
    drop((health, patterns));
    Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    // Off the runtime: the client side of the connection must keep running to close.
    let mut child = server.child;
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap();
    assert!(status.unwrap().success());
}

#[test]
fn a_database_on_a_read_only_file_system_is_refused_at_start() {
    if !can_mount_tmpfs() {
        return;
    }
    let source = tempfile::tempdir().unwrap();
    let db = source.path().join("learning.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let mountpoint = tempfile::tempdir().unwrap();
    let output = command_on_tmpfs(
        mountpoint.path(),
        r#"mount -t tmpfs -o size=4m tmpfs "$0" && cp "$2" "$0/learning.db" && mount -o remount,ro "$0""#,
        &db,
        &[],
    )
    .env("LEARNING_LOG", "error")
    .output()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("learning.db is not writable (Read-only file system"),
        "{stderr}"
    );
}
