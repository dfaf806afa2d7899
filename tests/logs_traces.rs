//! One log line per call (JSON with `--log-format json`), and the caller's
//! W3C trace kept: a call with a `traceparent` yields a span of that trace,
//! exported over OTLP/gRPC to a receiver run by the test.

mod common;
mod served;

use std::time::Duration;

use learning_service::pb::{self, budget_service_client::BudgetServiceClient};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{AnyValue, KeyValue, any_value},
    trace::v1::{Span, span::SpanKind, status::StatusCode},
};
use serde_json::Value;
use served::{Served, WAIT};
use tokio::sync::mpsc;
use tonic::{Code, Request, Response, Status, transport::Server};

const TOKEN: &str = "a-long-secret-token-0123456789";
const WRONG_TOKEN: &str = "wrong-token-abcdefghijklmnop";
const PRIVATE_REASON: &str = "private-reason-text-from-the-body";

fn with_metadata<T>(message: T, metadata: &[(&'static str, String)]) -> Request<T> {
    let mut request = Request::new(message);
    for (key, value) in metadata {
        request
            .metadata_mut()
            .insert(*key, value.parse().expect("metadata"));
    }
    request
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

#[tokio::test]
async fn every_call_logs_one_json_line_with_its_method_job_code_and_latency() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.txt");
    std::fs::write(&tokens, format!("{TOKEN}\n")).unwrap();
    let args = ["--log-format", "json", "--auth-token-file"];
    let mut args: Vec<&str> = args.to_vec();
    args.push(tokens.to_str().unwrap());
    let mut served = Served::start(dir.path(), &args, &[]).await;
    for line in &served.startup_log {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    let mut budget = BudgetServiceClient::new(served.channel().await);

    let update = pb::UpdateExplorationBudgetRequest {
        job_hash: "job-json".into(),
        adjustment_reason: Some(PRIVATE_REASON.into()),
        ..common::valid::update()
    };
    budget
        .update_exploration_budget(with_metadata(update.clone(), &[bearer(TOKEN)]))
        .await
        .unwrap();
    let statistics = pb::GetExplorationBudgetStatisticsRequest {
        job_hash: Some("job-json".into()),
    };
    budget
        .get_exploration_budget_statistics(with_metadata(statistics, &[bearer(TOKEN)]))
        .await
        .unwrap();
    let invalid = pb::UpdateExplorationBudgetRequest {
        job_hash: String::new(),
        ..update.clone()
    };
    let status = budget
        .update_exploration_budget(with_metadata(invalid, &[bearer(TOKEN)]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    for metadata in [vec![], vec![bearer(WRONG_TOKEN)]] {
        let status = budget
            .update_exploration_budget(with_metadata(update.clone(), &metadata))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }

    let mut lines = Vec::new();
    let mut calls = Vec::new();
    while calls.len() < 5 {
        let line = served.next_log_line().await;
        let parsed: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if parsed["target"] == "learning_service::request" {
            calls.push(parsed);
        }
        lines.push(line);
    }
    let update_method = "learning.v1.BudgetService/UpdateExplorationBudget";
    let expected = [
        (update_method, Some("job-json"), "OK"),
        (
            "learning.v1.BudgetService/GetExplorationBudgetStatistics",
            Some("job-json"),
            "OK",
        ),
        (update_method, None, "InvalidArgument"),
        (update_method, None, "Unauthenticated"),
        (update_method, None, "Unauthenticated"),
    ];
    for (call, (method, job, code)) in calls.iter().zip(expected) {
        assert_eq!(call["level"], "INFO", "{call}");
        assert_eq!(call["span"]["name"], "request", "{call}");
        assert_eq!(call["span"]["method"], method, "{call}");
        assert_eq!(call["span"]["job_hash"].as_str(), job, "{call}");
        assert_eq!(call["code"], code, "{call}");
        let latency = call["latency_ms"].as_f64().expect("latency_ms is a number");
        assert!((0.0..10_000.0).contains(&latency), "{call}");
        assert!(call["timestamp"].is_string(), "{call}");
    }

    lines.extend(served.stop().await);
    for line in &lines {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for secret in [TOKEN, WRONG_TOKEN, PRIVATE_REASON] {
            assert!(!line.contains(secret), "{secret} logged: {line}");
        }
    }
}

/// An OTLP/gRPC trace receiver: hands every exported span to the test.
struct Receiver(mpsc::UnboundedSender<(Vec<KeyValue>, Span)>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        for resource_spans in request.into_inner().resource_spans {
            let resource = resource_spans
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    let _ = self.0.send((resource.clone(), span));
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn start_receiver() -> (String, mpsc::UnboundedReceiver<(Vec<KeyValue>, Span)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (sender, spans) = mpsc::unbounded_channel();
    tokio::spawn(
        Server::builder()
            .add_service(TraceServiceServer::new(Receiver(sender)))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (format!("http://{address}"), spans)
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn text(value: &str) -> any_value::Value {
    any_value::Value::StringValue(value.into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_call_with_a_traceparent_is_a_span_of_the_callers_trace() {
    let (endpoint, mut spans) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let mut served = Served::start(
        dir.path(),
        &["--otlp-endpoint", &endpoint],
        &[("OTEL_BSP_SCHEDULE_DELAY", "50")],
    )
    .await;
    let mut budget = BudgetServiceClient::new(served.channel().await);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let traceparent = ("traceparent", format!("00-{trace_id}-{caller_span}-01"));
    let update = pb::UpdateExplorationBudgetRequest {
        job_hash: "job-traced".into(),
        ..common::valid::update()
    };
    budget
        .update_exploration_budget(with_metadata(update, &[traceparent]))
        .await
        .unwrap();
    let untraced = pb::GetExplorationBudgetRequest {
        job_hash: Some("job-untraced".into()),
    };
    budget.get_exploration_budget(untraced).await.unwrap();
    // The server's fault (here, a method it does not have) makes the span an error.
    let mut grpc = tonic::client::Grpc::new(served.channel().await);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/nope.Service/Method");
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let unknown = grpc.unary(Request::new(()), path, codec).await.unwrap_err();
    assert_eq!(unknown.code(), Code::Unimplemented);

    let (mut traced, mut fresh, mut failed) = (None, None, None);
    let collected = tokio::time::timeout(WAIT, async {
        while traced.is_none() || fresh.is_none() || failed.is_none() {
            let (resource, span) = spans.recv().await.expect("receiver open");
            match attribute(&span.attributes, "job_hash") {
                Some(job) if *job == text("job-traced") => traced = Some((resource, span)),
                Some(job) if *job == text("job-untraced") => fresh = Some(span),
                _ if span.name == "unknown/unknown" => failed = Some(span),
                _ => {}
            }
        }
    })
    .await;
    assert!(collected.is_ok(), "spans not exported in time");
    let (resource, traced) = traced.unwrap();
    let fresh = fresh.unwrap();
    let failed = failed.unwrap();
    assert_eq!(
        failed.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32),
        "{failed:?}"
    );
    assert_eq!(
        traced.status.as_ref().map(|s| s.code),
        Some(StatusCode::Unset as i32)
    );

    assert_eq!(hex(&traced.trace_id), trace_id);
    assert_eq!(hex(&traced.parent_span_id), caller_span);
    assert_eq!(
        traced.name,
        "learning.v1.BudgetService/UpdateExplorationBudget"
    );
    assert_eq!(traced.kind, SpanKind::Server as i32);
    let attributes = &traced.attributes;
    assert_eq!(attribute(attributes, "rpc.system"), Some(&text("grpc")));
    assert_eq!(
        attribute(attributes, "rpc.service"),
        Some(&text("learning.v1.BudgetService"))
    );
    assert_eq!(
        attribute(attributes, "rpc.grpc.status_code"),
        Some(&any_value::Value::IntValue(0))
    );
    assert_eq!(
        attribute(&resource, "service.name"),
        Some(&text("learning-service"))
    );
    // The end of the call, with its code and latency, is an event of the span.
    let ended = traced
        .events
        .iter()
        .find(|e| e.name == "call handled")
        .expect("the call's end");
    assert_eq!(attribute(&ended.attributes, "code"), Some(&text("OK")));

    // Without a traceparent, the call starts a trace of its own.
    assert_eq!(fresh.trace_id.len(), 16);
    assert_ne!(hex(&fresh.trace_id), trace_id);
    assert!(fresh.parent_span_id.is_empty());

    // The log line carries the trace id, to find the trace from the log.
    let mut traced_line = None;
    while traced_line.is_none() {
        let line = served.next_log_line().await;
        if line.contains("job_hash=\"job-traced\"") && line.contains("call handled") {
            traced_line = Some(line);
        }
    }
    let traced_line = traced_line.unwrap();
    assert!(
        traced_line.contains(&format!("trace_id={trace_id}")),
        "{traced_line}"
    );
    served.stop().await;
}

#[tokio::test]
async fn spans_not_yet_sent_are_exported_at_shutdown_whatever_the_log_level() {
    let (endpoint, mut spans) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    // A batch delay far beyond the test: only the flush at exit sends it.
    // The per-call log lines are off, the spans are exported all the same.
    let quiet = "warn,learning_service=info,learning_service::request=warn";
    let served = Served::start(
        dir.path(),
        &["--otlp-endpoint", &endpoint, "--log-level", quiet],
        &[("OTEL_BSP_SCHEDULE_DELAY", "600000")],
    )
    .await;
    let mut budget = BudgetServiceClient::new(served.channel().await);
    let request = pb::GetExplorationBudgetRequest {
        job_hash: Some("job-at-exit".into()),
    };
    budget.get_exploration_budget(request).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(spans.try_recv().is_err(), "nothing sent before the exit");
    let log = served.stop().await;
    let (_, span) = tokio::time::timeout(WAIT, spans.recv())
        .await
        .expect("flushed at exit")
        .expect("a span");
    assert_eq!(
        attribute(&span.attributes, "job_hash"),
        Some(&text("job-at-exit"))
    );
    assert!(
        !log.iter()
            .any(|line| line.contains("learning_service::request")),
        "{log:#?}"
    );
}
