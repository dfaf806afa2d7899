//! The streams send records encoded once for all subscribers: on the wire,
//! those are the very bytes prost encodes for the message, so generated
//! clients of any language read them as before.

mod common;

use std::time::Duration;

use bytes::{Buf, Bytes};
use common::TestServer;
use learning_service::pb::{self, subscribe_pattern_entropy_response::Event};
use prost::Message;
use tokio::time::timeout;
use tonic::{
    Status,
    codec::{Codec, DecodeBuf, Decoder},
};
use tonic_prost::ProstEncoder;

const WAIT: Duration = Duration::from_secs(20);

/// Requests encoded by prost, answers kept as the bytes received.
#[derive(Default)]
struct RawAnswers;

impl Codec for RawAnswers {
    type Encode = pb::SubscribePatternEntropyRequest;
    type Decode = Bytes;
    type Encoder = ProstEncoder<pb::SubscribePatternEntropyRequest>;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(Default::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(buf.copy_to_bytes(buf.remaining())))
    }
}

async fn raw_stream(server: &TestServer) -> tonic::Streaming<Bytes> {
    let mut grpc = tonic::client::Grpc::new(server.channel());
    grpc.ready().await.unwrap();
    let path = "/learning.v1.EntropyService/SubscribePatternEntropy"
        .parse()
        .unwrap();
    let request = tonic::Request::new(pb::SubscribePatternEntropyRequest::default());
    grpc.server_streaming(request, path, RawAnswers)
        .await
        .unwrap()
        .into_inner()
}

async fn next<T>(stream: &mut tonic::Streaming<T>) -> T {
    timeout(WAIT, stream.message())
        .await
        .expect("in time")
        .unwrap()
        .expect("open")
}

#[tokio::test]
async fn a_streamed_record_is_what_prost_encodes_and_what_was_recorded() {
    let server = TestServer::start().await;
    let mut typed = server
        .entropy()
        .subscribe_pattern_entropy(pb::SubscribePatternEntropyRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut raw = raw_stream(&server).await;
    let caught_up = next(&mut typed).await;
    assert!(matches!(caught_up.event, Some(Event::CaughtUp(_))));
    // The marker (encoded for this stream alone) is prost's encoding too.
    let marker = pb::SubscribePatternEntropyResponse::decode(next(&mut raw).await).unwrap();
    assert!(matches!(marker.event, Some(Event::CaughtUp(_))));

    let sent = pb::PatternEntropyMetrics {
        threshold_exceeded: true,
        ..common::valid::metrics()
    };
    let id = server.record_snapshot(sent.clone()).await.id;

    // The generated client decodes the shared bytes into the record as
    // recorded and as the history returns it.
    let streamed = next(&mut typed).await;
    let Some(Event::Snapshot(snapshot)) = streamed.event.clone() else {
        panic!("not a snapshot: {streamed:?}");
    };
    assert_eq!(snapshot.id, id);
    // As recorded, with the id and time the server gave it.
    assert_eq!(
        pb::PatternEntropyMetrics {
            id: String::new(),
            calculated_at: sent.calculated_at,
            ..snapshot.clone()
        },
        sent
    );
    let history = server
        .entropy()
        .get_pattern_entropy_history(pb::GetPatternEntropyHistoryRequest::default())
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(history, vec![snapshot.clone()]);

    // Byte for byte what prost writes for that message, on a second stream.
    let wire = next(&mut raw).await;
    assert_eq!(wire, Bytes::from(streamed.encode_to_vec()));
    let rebuilt = pb::SubscribePatternEntropyResponse {
        cursor: streamed.cursor.clone(),
        event: Some(Event::Snapshot(history[0].clone())),
    };
    assert_eq!(wire, Bytes::from(rebuilt.encode_to_vec()));
}
