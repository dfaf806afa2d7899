//! The gRPC server metrics as a tower layer, with go-grpc-prometheus's
//! names and labels: `grpc_server_started_total`,
//! `grpc_server_handled_total` (by `grpc_code`, read from how the call
//! ended, see [`crate::ops::call_end`]), `grpc_server_handling_seconds`
//! and `grpc_server_msg_sent_total`; and the open streams of each method.

use std::{
    sync::{Arc, OnceLock},
    time::Instant,
};

use bytes::Bytes;
use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use tonic::Code;
use tracing::Span;

use super::HANDLING_SECONDS;
use crate::ops::{
    call_end::{CallObserver, MessageCounter, code_name, grpc_status},
    methods::{Method, Methods},
    observe::{CallHooks, ObserveLayer},
};

/// Adds the metrics when on; when off, responses pass through untouched
/// (one type either way, so the server's layer stack is the same).
pub type GrpcMetricsLayer = ObserveLayer<GrpcMetricsHooks>;

#[derive(Clone)]
pub struct GrpcMetricsHooks {
    table: Option<Arc<Vec<MethodMetrics>>>,
}

impl GrpcMetricsLayer {
    /// Registers the series of every method now (the recorder must be
    /// installed first): `grpc_server_started_total` is 0 until a call.
    pub fn on() -> Self {
        let table = Methods::served()
            .all()
            .iter()
            .map(MethodMetrics::new)
            .collect();
        ObserveLayer::new(GrpcMetricsHooks {
            table: Some(Arc::new(table)),
        })
    }

    pub fn off() -> Self {
        ObserveLayer::new(GrpcMetricsHooks { table: None })
    }
}

impl CallHooks for GrpcMetricsHooks {
    type Observer = CallMetrics;

    fn start<B>(&self, request: &http::Request<B>) -> Option<(CallMetrics, Span)> {
        let table = self.table.clone()?;
        let index = Methods::served().of_path(request.uri().path()).index;
        table[index].started.increment(1);
        let call = CallMetrics {
            table,
            index,
            started: Instant::now(),
            messages: MessageCounter::default(),
            streaming: false,
        };
        Some((call, Span::none()))
    }

    /// A stream is open once its headers go out without a status.
    fn head(&self, call: &mut CallMetrics, headers: &http::HeaderMap) {
        if let Some(subscribers) = &call.table[call.index].subscribers
            && grpc_status(headers).is_none()
        {
            subscribers.increment(1.0);
            call.streaming = true;
        }
    }
}

/// The handles of one method's series, made once: a call then costs a
/// few atomic additions, not a registry lookup per series.
struct MethodMetrics {
    method: &'static Method,
    started: Counter,
    handling: Histogram,
    sent: Counter,
    subscribers: Option<Gauge>,
    /// By code, made on the code's first call so that unseen codes stay absent.
    handled: [OnceLock<Counter>; 17],
}

impl MethodMetrics {
    fn new(method: &'static Method) -> Self {
        let labels = labels(method);
        let started = counter!("grpc_server_started_total", &labels);
        started.absolute(0);
        let streams = method.kind.streams_responses();
        Self {
            method,
            started,
            handling: histogram!(HANDLING_SECONDS, &labels),
            sent: counter!("grpc_server_msg_sent_total", &labels),
            subscribers: streams.then(|| {
                let subscribers = gauge!(
                    "learning_stream_subscribers",
                    "grpc_service" => method.service,
                    "grpc_method" => method.name
                );
                subscribers.set(0.0);
                subscribers
            }),
            handled: Default::default(),
        }
    }

    fn handled(&self, code: Code) -> &Counter {
        let index = (code as usize).min(self.handled.len() - 1);
        self.handled[index].get_or_init(|| {
            let mut labels = labels(self.method);
            labels.push(("grpc_code", code_name(code)));
            counter!("grpc_server_handled_total", &labels)
        })
    }
}

fn labels(method: &Method) -> Vec<(&'static str, &'static str)> {
    vec![
        ("grpc_service", method.service),
        ("grpc_method", method.name),
        ("grpc_type", method.kind.label()),
    ]
}

/// Counts one call's messages and, at its end, its code and duration.
pub struct CallMetrics {
    table: Arc<Vec<MethodMetrics>>,
    index: usize,
    started: Instant,
    messages: MessageCounter,
    streaming: bool,
}

impl CallMetrics {
    fn method(&self) -> &MethodMetrics {
        &self.table[self.index]
    }
}

impl CallObserver for CallMetrics {
    fn data(&mut self, chunk: &Bytes) {
        let sent = self.messages.count(chunk);
        if sent > 0 {
            self.method().sent.increment(sent);
        }
    }

    fn end(self, code: Code) {
        let method = self.method();
        method.handled(code).increment(1);
        method.handling.record(self.started.elapsed().as_secs_f64());
        if self.streaming
            && let Some(subscribers) = &method.subscribers
        {
            subscribers.decrement(1.0);
        }
    }
}
