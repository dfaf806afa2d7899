//! Clients that hold the server's resources without using them, over a real
//! server: connections that never speak, peers that stop answering PINGs,
//! more connections than the bound, calls whose request never arrives, and
//! more calls in progress than the bound. Health keeps answering throughout.

mod common;

use std::time::Duration;

use common::TestServer;
use learning_service::{api::codec::LearningCodec, limits::Limits, pb, server::ServerOptions};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic::{Code, transport::Channel};
use tonic_health::pb::health_check_response::ServingStatus;

/// Far longer than any bound below: reaching it means the server did not act.
const PATIENCE: Duration = Duration::from_secs(10);

fn options(limits: Limits) -> ServerOptions {
    ServerOptions {
        limits,
        health_check_interval: Duration::ZERO,
        ..ServerOptions::default()
    }
}

/// Whether the server closes `socket` within [`PATIENCE`] (reading and
/// dropping whatever it sends first, such as its HTTP/2 SETTINGS).
async fn closed_by_server(socket: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(PATIENCE, async {
        while let Ok(n) = socket.read(&mut buffer).await {
            if n == 0 {
                break;
            }
        }
    })
    .await
    .is_ok()
}

async fn connect(server: &TestServer) -> Channel {
    server.connect(None, None).await.expect("connect")
}

async fn healthy(channel: Channel) -> bool {
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    matches!(
        common::health_status(&mut client, "").await,
        Ok(ServingStatus::Serving)
    )
}

#[tokio::test]
async fn connections_that_never_speak_are_closed_after_the_handshake_timeout() {
    let server = TestServer::start_with(options(Limits {
        handshake_timeout: Some(Duration::from_millis(300)),
        ..Limits::default()
    }))
    .await;
    // A real client, idle for longer than the timeout after its handshake.
    let channel = connect(&server).await;
    assert!(healthy(channel.clone()).await);

    let mut silent = TcpStream::connect(server.address).await.unwrap();
    let mut partial = TcpStream::connect(server.address).await.unwrap();
    partial.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    assert!(
        closed_by_server(&mut silent).await,
        "a silent connection stayed open"
    );
    assert!(
        closed_by_server(&mut partial).await,
        "half a preface stayed open"
    );

    assert!(
        healthy(channel).await,
        "an idle client that spoke was closed"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_handshake_timeout_spares_tls_clients_once_they_have_spoken() {
    let ca = common::certs::TestCa::new("hostile test CA");
    let server = ca.server();
    let server = TestServer::start_with(ServerOptions {
        tls: Some(learning_service::tls::TlsSettings::from_pem(
            server.cert,
            server.key,
            None,
        )),
        ..options(Limits {
            handshake_timeout: Some(Duration::from_millis(300)),
            ..Limits::default()
        })
    })
    .await;
    let channel = server.connect(Some(&ca.cert), None).await.expect("TLS");
    assert!(healthy(channel.clone()).await);
    // Idle past the timeout: the handshake was complete, so it stays open.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(healthy(channel).await, "a TLS client that spoke was closed");
    // One that starts a TLS handshake and stops is closed.
    let mut stalled = TcpStream::connect(server.address).await.unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x40])
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut stalled).await,
        "a stalled TLS handshake stayed open"
    );
    server.stop().await;
}

/// The HTTP/2 preface, an empty SETTINGS frame and, once the server's
/// SETTINGS came, its acknowledgement: a handshake, then silence.
async fn handshake_then_silence(socket: &mut TcpStream) {
    socket
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut header = [0u8; 9];
    socket.read_exact(&mut header).await.unwrap();
    assert_eq!(header[3], 4, "the server's first frame is SETTINGS");
    let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
    let mut payload = vec![0u8; length];
    socket.read_exact(&mut payload).await.unwrap();
    socket.write_all(b"\0\0\0\x04\x01\0\0\0\0").await.unwrap();
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_closed() {
    let server = TestServer::start_with(options(Limits {
        http2_keepalive_interval: Some(Duration::from_millis(200)),
        http2_keepalive_timeout: Duration::from_millis(200),
        handshake_timeout: Some(Duration::from_secs(60)),
        ..Limits::default()
    }))
    .await;
    let mut mute = TcpStream::connect(server.address).await.unwrap();
    handshake_then_silence(&mut mute).await;
    assert!(
        closed_by_server(&mut mute).await,
        "a peer that answers no PING stayed open"
    );
    // A real client answers the PINGs and stays connected while idle.
    let channel = connect(&server).await;
    assert!(healthy(channel.clone()).await);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        healthy(channel).await,
        "an idle client that answers PINGs was closed"
    );
    server.stop().await;
}

#[tokio::test]
async fn at_the_connection_bound_silent_connections_make_room_and_health_answers() {
    let server = TestServer::start_with(options(Limits {
        max_connections: 4,
        handshake_timeout: Some(Duration::from_secs(60)),
        ..Limits::default()
    }))
    .await;
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(TcpStream::connect(server.address).await.unwrap());
    }
    // A client that speaks takes the place of the oldest silent connection.
    let first = connect(&server).await;
    assert!(healthy(first.clone()).await, "health refused at the bound");
    assert!(closed_by_server(&mut silent[0]).await, "nothing made room");

    // Once every connection has spoken, one more is closed at once, and the
    // ones there keep being served.
    let mut spoken = vec![first];
    for _ in 0..3 {
        let channel = connect(&server).await;
        assert!(healthy(channel.clone()).await);
        spoken.push(channel);
    }
    let mut extra = TcpStream::connect(server.address).await.unwrap();
    assert!(
        closed_by_server(&mut extra).await,
        "a fifth connection stayed open"
    );
    for channel in &spoken {
        assert!(
            healthy(channel.clone()).await,
            "an admitted client lost health"
        );
    }
    drop(spoken);
    drop(silent);
    server.stop().await;
}

/// A call whose request body never comes.
async fn silent_call(channel: Channel) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let body = tokio_stream::pending::<pb::GetExplorationBudgetRequest>();
    let codec =
        LearningCodec::<pb::GetExplorationBudgetRequest, pb::GetExplorationBudgetResponse>::default(
        );
    grpc.client_streaming(
        tonic::Request::new(body),
        http::uri::PathAndQuery::from_static("/learning.v1.BudgetService/GetExplorationBudget"),
        codec,
    )
    .await
    .map(drop)
}

#[tokio::test]
async fn a_request_that_never_arrives_gets_deadline_exceeded() {
    let server = TestServer::start_with(options(Limits {
        request_receive_timeout: Some(Duration::from_millis(300)),
        request_timeout_max: None,
        ..Limits::default()
    }))
    .await;
    let answer = tokio::time::timeout(PATIENCE, silent_call(server.channel()))
        .await
        .expect("the server waited for the body");
    let status = answer.expect_err("a call without a request answered OK");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("did not arrive"), "{status:?}");
    server.stop().await;
}

#[tokio::test]
async fn calls_beyond_the_bound_are_resource_exhausted_while_health_answers() {
    let server = TestServer::start_with(options(Limits {
        max_calls: 3,
        ..Limits::default()
    }))
    .await;
    // Three streams hold the three slots (their answer has started).
    let mut streams = Vec::new();
    for _ in 0..3 {
        let stream = server
            .budget()
            .watch_exploration_budget(pb::WatchExplorationBudgetRequest::default())
            .await
            .expect("a watch within the bound");
        streams.push(stream.into_inner());
    }
    let refused = server
        .budget()
        .get_exploration_budget(pb::GetExplorationBudgetRequest::default())
        .await
        .expect_err("a fourth call ran");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("maximum of 3 calls"),
        "{refused:?}"
    );
    let silent = tokio::time::timeout(PATIENCE, silent_call(server.channel()))
        .await
        .expect("a call beyond the bound waited");
    assert_eq!(silent.unwrap_err().code(), Code::ResourceExhausted);
    // Health has slots of its own.
    assert!(
        healthy(server.channel()).await,
        "health refused at the bound"
    );

    // A stream that ends gives its slot back.
    streams.pop();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let read = server
            .budget()
            .get_exploration_budget(pb::GetExplorationBudgetRequest::default())
            .await;
        match read {
            Ok(_) => break,
            Err(status) if status.code() == Code::ResourceExhausted => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the slot never came back"
                );
                tokio::task::yield_now().await;
            }
            Err(status) => panic!("{status:?}"),
        }
    }
    drop(streams);
    server.stop().await;
}

#[test]
fn the_open_file_soft_limit_is_raised_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    // A soft limit of 256 under the inherited hard limit.
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -S -n 256 && exec "$0" serve --db "$1" --listen 127.0.0.1:0 --log-level warn"#)
        .arg(env!("CARGO_BIN_EXE_learning-service"))
        .arg(&db)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the server");
    let limits = |pid: u32| -> Option<(String, String)> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
        let line = text.lines().find(|l| l.starts_with("Max open files"))?;
        let mut fields = line["Max open files".len()..].split_whitespace();
        Some((fields.next()?.to_owned(), fields.next()?.to_owned()))
    };
    let deadline = std::time::Instant::now() + PATIENCE;
    let (soft, hard) = loop {
        // The raise happens before the database is opened.
        if db.exists() {
            break limits(child.id()).expect("limits");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_ne!(soft, "256", "the soft limit was left at 256");
    assert_eq!(soft, hard);
}
