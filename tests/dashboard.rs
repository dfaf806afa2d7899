//! The dashboard's listener and gRPC-Web on the gRPC listener, over real
//! sockets: the embedded files, CORS limited to the dashboard's origins,
//! gRPC-Web calls with and without tokens. The page itself is tested in a
//! browser by dashboard/test.sh.

mod common;

use std::net::SocketAddr;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::TestServer;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use learning_service::{
    auth::BearerTokens,
    dashboard::{Dashboard, PageSettings},
    pb,
    server::ServerOptions,
};
use prost::Message;
use tokio::net::TcpStream;

const TOKEN: &str = "dashboard-token-0123456789";
const CALCULATE: &str = "/learning.v1.EntropyService/CalculatePatternEntropy";

struct Served {
    server: TestServer,
    dashboard: SocketAddr,
}

impl Served {
    /// The dashboard's origin, as a browser that loaded it sends it.
    fn origin(&self) -> String {
        format!("http://localhost:{}", self.dashboard.port())
    }
}

/// A server with the dashboard beside it, as `serve --http-listen 127.0.0.1:0` runs them.
async fn serve(auth: Option<BearerTokens>, extra_origins: Vec<String>) -> Served {
    let dashboard = Dashboard::bind("127.0.0.1:0".parse().unwrap(), false, extra_origins)
        .await
        .expect("bind the dashboard");
    let address = dashboard.address();
    let options = ServerOptions {
        grpc_web: Some(dashboard.grpc_web()),
        auth: auth.clone(),
        ..ServerOptions::default()
    };
    let server = TestServer::start_with(options).await;
    let page = PageSettings {
        grpc_port: server.address.port(),
        alert_threshold: 0.4,
        budget_floor: 0.05,
        budget_ceiling: 0.5,
        auth_required: auth.is_some(),
    };
    tokio::spawn(dashboard.serve(page, None, std::future::pending()));
    Served {
        server,
        dashboard: address,
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// One HTTP/1.1 request on a new connection, as a browser without HTTP/2 sends it.
async fn send(to: SocketAddr, request: Request<Full<Bytes>>) -> Result<Answer, hyper::Error> {
    let stream = TcpStream::connect(to).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header(header::HOST, "localhost")
        .body(Full::default())
        .unwrap()
}

/// A gRPC-Web call as connect-web sends it: one length-prefixed message.
fn grpc_web(
    path: &str,
    origin: &str,
    token: Option<&str>,
    message: impl Message,
) -> Request<Full<Bytes>> {
    let encoded = message.encode_to_vec();
    let mut body = BytesMut::new();
    body.put_u8(0);
    body.put_u32(encoded.len() as u32);
    body.put_slice(&encoded);
    let mut request = Request::post(path)
        .header(header::HOST, "localhost")
        .header(header::ORIGIN, origin)
        .header(header::CONTENT_TYPE, "application/grpc-web+proto")
        .header("x-grpc-web", "1");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Full::new(body.freeze())).unwrap()
}

/// The messages of a gRPC-Web answer, and its status: from the trailer frame,
/// or from the headers of an answer without a body (trailers only).
fn frames(answer: &Answer) -> (Vec<Bytes>, String) {
    let mut body = answer.body.clone();
    let mut messages = Vec::new();
    let mut status = answer
        .headers
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    while body.has_remaining() {
        let flags = body.get_u8();
        let length = body.get_u32() as usize;
        let frame = body.split_to(length);
        if flags & 0x80 != 0 {
            let trailers = String::from_utf8(frame.to_vec()).unwrap();
            status = trailers
                .lines()
                .find_map(|line| line.strip_prefix("grpc-status:"))
                .map(|s| s.trim().to_owned());
        } else {
            messages.push(frame);
        }
    }
    (messages, status.expect("a grpc-status"))
}

#[tokio::test]
async fn serves_the_embedded_page_and_its_settings() {
    let served = serve(None, Vec::new()).await;
    let page = send(served.dashboard, get("/")).await.unwrap();
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.headers[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    assert!(
        html.contains(r#"<script type="module" src="/app.js"></script>"#),
        "{html}"
    );

    let script = send(served.dashboard, get("/app.js")).await.unwrap();
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(
        script.headers[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        script.body.as_ref(),
        include_bytes!("../dashboard/dist/app.js")
    );
    let styles = send(served.dashboard, get("/app.css")).await.unwrap();
    assert_eq!(
        styles.headers[header::CONTENT_TYPE],
        "text/css; charset=utf-8"
    );
    assert!(!styles.body.is_empty());

    let config = send(served.dashboard, get("/config.json")).await.unwrap();
    assert_eq!(config.headers[header::CONTENT_TYPE], "application/json");
    let config: serde_json::Value = serde_json::from_slice(&config.body).unwrap();
    assert_eq!(config["grpcPort"], served.server.address.port());
    assert_eq!(config["alertThreshold"], 0.4);
    assert_eq!(config["authRequired"], false);

    assert_eq!(
        send(served.dashboard, get("/learning.db"))
            .await
            .unwrap()
            .status,
        StatusCode::NOT_FOUND
    );
    let post = Request::post("/")
        .header(header::HOST, "localhost")
        .body(Full::default())
        .unwrap();
    assert_eq!(
        send(served.dashboard, post).await.unwrap().status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn cors_allows_the_dashboards_origins_only() {
    let extra = "https://dash.example.com".to_string();
    let served = serve(None, vec![extra.clone()]).await;
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri(CALCULATE)
            .header(header::HOST, "localhost")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization,content-type,x-grpc-web,x-user-agent",
            )
            .body(Full::default())
            .unwrap()
    };
    let loopback = format!("http://127.0.0.1:{}", served.dashboard.port());
    for allowed in [served.origin(), loopback, extra] {
        let answer = send(served.server.address, preflight(&allowed))
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::OK, "{allowed}");
        assert_eq!(
            answer.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            allowed.as_str()
        );
        let headers = answer.headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .unwrap();
        assert!(headers.contains("authorization"), "{headers}");
    }
    for refused in [
        "http://evil.example",
        &format!("http://localhost:{}", served.dashboard.port() + 1),
    ] {
        let answer = send(served.server.address, preflight(refused))
            .await
            .unwrap();
        assert!(
            !answer
                .headers
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            "{refused} was allowed: {:?}",
            answer.headers
        );
    }
}

#[tokio::test]
async fn grpc_web_calls_reach_the_api_from_the_dashboard() {
    let served = serve(None, Vec::new()).await;
    let request = pb::CalculatePatternEntropyRequest {
        alert_threshold: Some(0.5),
        ..Default::default()
    };
    let answer = send(
        served.server.address,
        grpc_web(CALCULATE, &served.origin(), None, request),
    )
    .await
    .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/grpc-web+proto"
    );
    assert_eq!(
        answer.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        served.origin().as_str()
    );
    let exposed = answer.headers[header::ACCESS_CONTROL_EXPOSE_HEADERS]
        .to_str()
        .unwrap();
    assert!(exposed.contains("grpc-status"), "{exposed}");
    let (messages, status) = frames(&answer);
    assert_eq!(status, "0");
    assert_eq!(messages.len(), 1);
    let metrics = pb::CalculatePatternEntropyResponse::decode(messages[0].clone())
        .unwrap()
        .metrics
        .unwrap();
    assert_eq!(metrics.total_applications, 0);
    assert!(metrics.id.is_empty(), "calculated, not recorded");
}

#[tokio::test]
async fn grpc_web_calls_need_the_token_like_any_other() {
    let tokens = BearerTokens::new([TOKEN]).unwrap();
    let served = serve(Some(tokens), Vec::new()).await;
    let call = |token: Option<&str>| {
        grpc_web(
            CALCULATE,
            &served.origin(),
            token,
            pb::CalculatePatternEntropyRequest::default(),
        )
    };
    let refused = send(served.server.address, call(None)).await.unwrap();
    let (messages, status) = frames(&refused);
    assert_eq!(status, (tonic::Code::Unauthenticated as i32).to_string());
    assert!(messages.is_empty());
    // The page must be able to read why: the status headers are exposed to it.
    assert_eq!(
        refused.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        served.origin().as_str()
    );
    let wrong = send(served.server.address, call(Some("not-the-token-012345")))
        .await
        .unwrap();
    assert_eq!(
        frames(&wrong).1,
        (tonic::Code::Unauthenticated as i32).to_string()
    );
    let accepted = send(served.server.address, call(Some(TOKEN)))
        .await
        .unwrap();
    let (messages, status) = frames(&accepted);
    assert_eq!(status, "0");
    assert_eq!(messages.len(), 1);
}

#[tokio::test]
async fn without_a_dashboard_the_grpc_listener_speaks_http2_only() {
    let server = TestServer::start().await;
    let call = grpc_web(
        CALCULATE,
        "http://localhost:8080",
        None,
        pb::CalculatePatternEntropyRequest::default(),
    );
    assert!(
        send(server.address, call).await.is_err(),
        "an HTTP/1.1 request was answered"
    );
    // gRPC itself is unchanged.
    let answer = server
        .entropy()
        .calculate_pattern_entropy(pb::CalculatePatternEntropyRequest::default())
        .await
        .unwrap();
    assert!(answer.into_inner().metrics.is_some());
}

#[test]
fn a_bad_origin_stops_the_start_before_the_database_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_learning-service"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .args(["--dashboard-origin", "ftp://dash.example.com", "--db"])
        .arg(&db)
        .env("LEARNING_LOG", "error")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        r#"error: --dashboard-origin "ftp://dash.example.com": the scheme must be http or https"#
    );
    assert!(!db.exists(), "the database was created");

    // An origin means nothing without the dashboard.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_learning-service"))
        .args([
            "serve",
            "--dashboard-origin",
            "https://dash.example.com",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--http-listen"));
}
