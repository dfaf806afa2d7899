//! One span per call, as a tower layer: the method, the job (recorded by
//! the request's validation, see [`record_job`]), the caller's W3C trace
//! (`traceparent`), and at the end one log line with the status code and
//! the latency. Only these are recorded: never metadata (tokens) and
//! never a request's body.

use std::time::Instant;

use opentelemetry::{
    propagation::{Extractor, TextMapPropagator},
    trace::{Status as SpanStatus, TraceContextExt},
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::Code;
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::ops::{
    call_end::{CallObserver, code_name},
    methods::Methods,
    observe::{CallHooks, ObserveLayer},
    telemetry,
};

/// The target of the per-call log lines, to filter them on their own
/// (e.g. `--log-level info,learning_service::request=warn`).
pub const TARGET: &str = "learning_service::request";

/// Records the job a call is about on the call's span (for logs and traces).
pub fn record_job(job: &str) {
    Span::current().record("job_hash", job);
}

/// The span of every call, and its log line at the end.
pub type RequestSpanLayer = ObserveLayer<RequestSpans>;

#[derive(Clone, Copy, Debug, Default)]
pub struct RequestSpans;

impl RequestSpanLayer {
    pub fn every_call() -> Self {
        ObserveLayer::new(RequestSpans)
    }
}

impl CallHooks for RequestSpans {
    type Observer = SpanEnd;

    /// Nothing to do when the span is off (the log level is above INFO and
    /// nothing exports).
    fn start<B>(&self, request: &http::Request<B>) -> Option<(SpanEnd, Span)> {
        let span = call_span(request);
        if span.is_disabled() {
            return None;
        }
        let end = SpanEnd {
            span: span.clone(),
            started: Instant::now(),
        };
        Some((end, span))
    }
}

/// Logs the end of one call inside its span.
pub struct SpanEnd {
    span: Span,
    started: Instant,
}

impl CallObserver for SpanEnd {
    fn end(self, code: Code) {
        let latency_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let code_name = code_name(code);
        if telemetry::exporting() {
            self.span.record("rpc.grpc.status_code", code as i64);
            if server_fault(code) {
                self.span.set_status(SpanStatus::error(code_name));
            }
        }
        let _entered = self.span.enter();
        if server_fault(code) {
            tracing::warn!(target: TARGET, code = code_name, latency_ms, "call failed");
        } else {
            tracing::info!(target: TARGET, code = code_name, latency_ms, "call handled");
        }
    }
}

/// The codes OpenTelemetry counts as a server's error (the others are the
/// caller's: invalid, not found, unauthenticated...).
fn server_fault(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    )
}

/// The span of a call, a child of the caller's trace when the request
/// carries a valid `traceparent`.
fn call_span<B>(request: &http::Request<B>) -> Span {
    let path = request.uri().path();
    let span = tracing::info_span!(
        target: TARGET,
        "request",
        method = path.strip_prefix('/').unwrap_or(path),
        job_hash = Empty,
        trace_id = Empty,
        "otel.name" = Empty,
        "otel.kind" = Empty,
        "rpc.system" = Empty,
        "rpc.service" = Empty,
        "rpc.method" = Empty,
        "rpc.grpc.status_code" = Empty,
    );
    if span.is_disabled() {
        return span;
    }
    let mut traced = false;
    if request.headers().contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
        let caller = parent.span().span_context().clone();
        if caller.is_valid() {
            span.record("trace_id", tracing::field::display(caller.trace_id()));
            let _ = span.set_parent(parent);
            traced = true;
        }
    }
    if telemetry::exporting() {
        // The conventional names of an RPC server span, for trace viewers
        // (from the fixed list: an unknown path is one name); only when
        // exporting, so that text logs stay short.
        let method = Methods::served().of_path(path);
        span.record("otel.name", format!("{}/{}", method.service, method.name));
        span.record("otel.kind", "server");
        span.record("rpc.system", "grpc");
        span.record("rpc.service", method.service);
        span.record("rpc.method", method.name);
        if !traced {
            let trace_id = span.context().span().span_context().trace_id();
            span.record("trace_id", tracing::field::display(trace_id));
        }
    }
    span
}

/// Reads W3C trace context from request headers.
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}
