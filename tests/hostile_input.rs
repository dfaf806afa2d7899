//! Requests no honest client sends, over a real server: Timestamps outside
//! the range google.protobuf.Timestamp defines, strings that are not UTF-8
//! and truncated messages (sent as raw bytes), and oversized requests to
//! every service, health and reflection included.

mod common;

use std::collections::BTreeSet;

use bytes::{Buf, BufMut};
use common::{TestServer, assert_invalid, valid::metrics};
use learning_service::pb;
use prost::Message;
use prost_types::{DescriptorProto, FileDescriptorSet, Timestamp, field_descriptor_proto::Type};
use tokio_stream::StreamExt;
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
};

/// Every request field of learning.v1 that holds a google.protobuf.Timestamp,
/// as `Request.path.to.field`, found in the service's own descriptors.
fn request_timestamp_fields() -> BTreeSet<String> {
    let set = FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET).expect("descriptors");
    let file = set
        .file
        .iter()
        .find(|f| f.package() == "learning.v1")
        .expect("learning.v1");
    let message = |name: &str| {
        let short = name.trim_start_matches(".learning.v1.");
        file.message_type.iter().find(|m| m.name() == short)
    };
    fn walk<'a>(
        found: &mut BTreeSet<String>,
        path: &str,
        descriptor: &'a DescriptorProto,
        message: &dyn Fn(&str) -> Option<&'a DescriptorProto>,
    ) {
        for field in descriptor
            .field
            .iter()
            .filter(|f| f.r#type() == Type::Message)
        {
            let here = format!("{path}.{}", field.name());
            if field.type_name() == ".google.protobuf.Timestamp" {
                found.insert(here);
            } else if let Some(inner) = message(field.type_name()) {
                walk(found, &here, inner, message);
            }
        }
    }
    let mut found = BTreeSet::new();
    for method in file.service.iter().flat_map(|s| &s.method) {
        let input = message(method.input_type()).expect("input type");
        walk(&mut found, input.name(), input, &message);
    }
    found
}

fn snapshot_at(seconds: i64, nanos: i32) -> pb::RecordPatternEntropyRequest {
    pb::RecordPatternEntropyRequest {
        metrics: Some(pb::PatternEntropyMetrics {
            calculated_at: Some(Timestamp { seconds, nanos }),
            ..metrics()
        }),
        request_id: String::new(),
    }
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
const FIRST_SECOND: i64 = -62_135_596_800;
const LAST_SECOND: i64 = 253_402_300_799;
const DAY: i64 = 86_400;

#[tokio::test]
async fn every_request_timestamp_is_held_to_the_timestamp_range() {
    // A new Timestamp field in a request must be added to the cases below.
    assert_eq!(
        request_timestamp_fields(),
        BTreeSet::from([
            "RecordPatternEntropyRequest.metrics.calculated_at".to_owned(),
            "ReplayBudgetPolicyRequest.since".to_owned(),
            "ReplayBudgetPolicyRequest.until".to_owned(),
        ]),
    );
    let server = TestServer::start().await;
    let mut entropy = server.entropy();
    for (seconds, nanos) in [
        (FIRST_SECOND - 1, 0),
        (LAST_SECOND + 1, 0),
        (i64::MIN, 0),
        (i64::MAX, 0),
        (0, -1),
        (0, 1_000_000_000),
        (59, 1_500_000_000), // chrono would read it as a leap second
        (0, i32::MAX),
    ] {
        let before = server.all_row_counts();
        let status = entropy
            .record_pattern_entropy(snapshot_at(seconds, nanos))
            .await
            .expect_err(&format!("{seconds} s {nanos} ns accepted"));
        assert_invalid(&status, "metrics.calculated_at");
        assert_eq!(server.all_row_counts(), before, "{seconds} s: wrote");
        // The replay's range, read-only.
        let at = Some(Timestamp { seconds, nanos });
        let replay = |since, until| pb::ReplayBudgetPolicyRequest {
            job_hash: "job-1".into(),
            since,
            until,
            ..Default::default()
        };
        for (request, field) in [(replay(at, None), "since"), (replay(None, at), "until")] {
            let status = server
                .budget()
                .replay_budget_policy(request)
                .await
                .expect_err(&format!("{field} {seconds} s {nanos} ns accepted"));
            assert_invalid(&status, field);
        }
    }
    // Inside the range (a day in from each end, so in any local time zone)
    // a time is stored and comes back as sent, to the microsecond.
    for (seconds, nanos) in [(FIRST_SECOND + DAY, 0), (LAST_SECOND - DAY, 999_999_000)] {
        let stored = entropy
            .record_pattern_entropy(snapshot_at(seconds, nanos))
            .await
            .expect("in range")
            .into_inner();
        let at = stored.metrics.unwrap().calculated_at.unwrap();
        assert_eq!((at.seconds, at.nanos), (seconds, nanos));
    }
    server.stop().await;
}

/// Sends raw bytes as the request message and decodes the answer as `R`.
struct RawCodec<R>(std::marker::PhantomData<R>);

impl<R> Default for RawCodec<R> {
    fn default() -> Self {
        Self(std::marker::PhantomData)
    }
}

struct RawEncoder;
struct AnswerDecoder<R>(std::marker::PhantomData<R>);

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl<R: Message + Default> Decoder for AnswerDecoder<R> {
    type Item = R;
    type Error = Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<R>, Status> {
        let bytes = buf.copy_to_bytes(buf.remaining());
        R::decode(bytes)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

impl<R: Message + Default + Send + 'static> Codec for RawCodec<R> {
    type Encode = Vec<u8>;
    type Decode = R;
    type Encoder = RawEncoder;
    type Decoder = AnswerDecoder<R>;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> AnswerDecoder<R> {
        AnswerDecoder(std::marker::PhantomData)
    }
}

async fn send_raw<R: Message + Default + Send + 'static>(
    server: &TestServer,
    path: &'static str,
    bytes: Vec<u8>,
) -> Result<R, Status> {
    let mut grpc = tonic::client::Grpc::new(server.channel());
    grpc.ready().await.expect("ready");
    grpc.unary(
        tonic::Request::new(bytes),
        http::uri::PathAndQuery::from_static(path),
        RawCodec::<R>::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

/// `message` with string field `tag` set to bytes that are not UTF-8.
fn with_bad_string(message: &impl Message, tag: u8) -> Vec<u8> {
    let mut bytes = message.encode_to_vec();
    bytes.extend_from_slice(&[tag << 3 | 2, 2, 0xc3, 0x28]);
    bytes
}

/// No server internals in what a client reads.
fn assert_no_internals(status: &Status) {
    for internal in ["Protobuf", "::", "failed to decode", ".rs"] {
        assert!(
            !status.message().contains(internal),
            "{internal:?} in {status:?}"
        );
    }
}

#[tokio::test]
async fn a_string_that_is_not_utf8_is_invalid_argument_naming_its_field() {
    let server = TestServer::start().await;
    let update = common::valid::update();
    let trigger = pb::TriggerEntropyResponseRequest {
        trigger: None,
        ..Default::default()
    };
    // trigger (field 1) holding a context whose job_hash (field 1) is not UTF-8.
    let bad_context = with_bad_string(&common::valid::trigger_context(), 1);
    let mut nested = trigger.encode_to_vec();
    nested.extend_from_slice(&[1 << 3 | 2, bad_context.len() as u8]);
    nested.extend_from_slice(&bad_context);
    let cases: Vec<(&'static str, Vec<u8>, &str)> = vec![
        (
            "/learning.v1.BudgetService/UpdateExplorationBudget",
            with_bad_string(&update, 1),
            "job_hash",
        ),
        (
            "/learning.v1.BudgetService/UpdateExplorationBudget",
            with_bad_string(&update, 5),
            "adjustment_reason",
        ),
        (
            "/learning.v1.EntropyService/TriggerEntropyResponse",
            nested,
            "trigger.job_hash",
        ),
        (
            "/learning.v1.PatternService/RecordPattern",
            with_bad_string(
                &pb::RecordPatternRequest {
                    pattern_type: "retry".into(),
                    pattern_name: "backoff".into(),
                    ..Default::default()
                },
                2,
            ),
            "pattern_name",
        ),
    ];
    for (path, bytes, field) in cases {
        let before = server.all_row_counts();
        // The answer type does not matter: the request is refused.
        let status = send_raw::<pb::UpdateExplorationBudgetResponse>(&server, path, bytes)
            .await
            .expect_err(path);
        assert_invalid(&status, field);
        assert_eq!(status.message(), format!("{field}: is not valid UTF-8"));
        assert_no_internals(&status);
        assert_eq!(server.all_row_counts(), before, "{path}: wrote");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_message_that_is_not_protobuf_is_invalid_argument() {
    let server = TestServer::start().await;
    let path = "/learning.v1.BudgetService/UpdateExplorationBudget";
    // job_hash claims 100 bytes and has 3; then a wire type that does not exist.
    for bytes in [vec![0x0a, 100, b'j', b'o', b'b'], vec![0x0f, 0x01]] {
        let status = send_raw::<pb::UpdateExplorationBudgetResponse>(&server, path, bytes)
            .await
            .expect_err("garbage accepted");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_no_internals(&status);
    }
    assert_eq!(server.row_counts()[0], ("exploration_budget".to_owned(), 0));
    server.stop().await;
}

const MIB: usize = 1 << 20;

/// The status that ends a bidirectional call that must answer nothing.
async fn first_error<T: std::fmt::Debug>(
    answer: Result<tonic::Response<tonic::Streaming<T>>, Status>,
) -> Status {
    match answer {
        Err(status) => status,
        Ok(answer) => match answer.into_inner().next().await {
            Some(Err(status)) => status,
            // Reflection drops the error of its request stream and ends with OK.
            other => panic!("a refused stream ended with {other:?}"),
        },
    }
}

#[tokio::test]
async fn oversized_requests_are_resource_exhausted_on_every_service() {
    use tonic_reflection::pb::{v1, v1alpha};
    let server = TestServer::start().await;
    let huge = "x".repeat(5 * MIB);

    let health = server
        .health()
        .check(tonic_health::pb::HealthCheckRequest {
            service: huge.clone(),
        })
        .await
        .expect_err("5 MiB health check accepted");
    assert_eq!(health.code(), Code::ResourceExhausted, "{health:?}");

    let watch = server
        .health()
        .watch(tonic_health::pb::HealthCheckRequest {
            service: huge.clone(),
        })
        .await
        .expect_err("5 MiB health watch accepted");
    assert_eq!(watch.code(), Code::ResourceExhausted, "{watch:?}");

    // Reflection is a bidirectional stream: the refusal ends the stream.
    let mut v1_client = v1::server_reflection_client::ServerReflectionClient::new(server.channel());
    let request = v1::ServerReflectionRequest {
        host: huge.clone(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let outcome = first_error(
        v1_client
            .server_reflection_info(tokio_stream::iter([request]))
            .await,
    )
    .await;
    assert_eq!(outcome.code(), Code::ResourceExhausted, "{outcome:?}");

    let mut alpha =
        v1alpha::server_reflection_client::ServerReflectionClient::new(server.channel());
    let request = v1alpha::ServerReflectionRequest {
        host: huge.clone(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let outcome = first_error(
        alpha
            .server_reflection_info(tokio_stream::iter([request]))
            .await,
    )
    .await;
    assert_eq!(outcome.code(), Code::ResourceExhausted, "{outcome:?}");

    let stream = server
        .budget()
        .watch_exploration_budget(pb::WatchExplorationBudgetRequest {
            job_hash: Some(huge),
            ..Default::default()
        })
        .await
        .expect_err("5 MiB watch accepted");
    assert_eq!(stream.code(), Code::ResourceExhausted, "{stream:?}");

    // Reflection still serves a request of a normal size.
    let listed = v1_client
        .server_reflection_info(tokio_stream::iter([v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        }]))
        .await
        .expect("reflection")
        .into_inner()
        .next()
        .await
        .expect("an answer")
        .expect("listed");
    assert!(listed.message_response.is_some());
    server.stop().await;
}
