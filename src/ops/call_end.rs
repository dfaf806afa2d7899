//! How a gRPC call ended, seen from the HTTP response: the status code of a
//! trailers-only answer (in the headers: refusals, validation errors,
//! deadlines), of the trailers after the messages (every successful call,
//! and streams however they end), or CANCELLED when the body is dropped
//! before its end (the client went away). Layers observe calls through
//! [`ObservedBody`] instead of each parsing frames of their own.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use tonic::Code;

/// Told about a call's sent data, then once about how it ended.
pub trait CallObserver: Send + Unpin + 'static {
    /// A chunk of the response body (length-prefixed messages).
    fn data(&mut self, _chunk: &Bytes) {}
    fn end(self, code: Code);
}

/// The `grpc-status` in `headers`, if any. An unparsable one is UNKNOWN,
/// as a client would read it.
pub fn grpc_status(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?;
    let code = std::str::from_utf8(value.as_bytes())
        .ok()
        .and_then(|text| text.parse::<i32>().ok())
        .map_or(Code::Unknown, Code::from_i32);
    Some(code)
}

/// Status names as go-grpc-prometheus spells them (`Canceled`, not
/// tonic's `Cancelled`), so existing dashboards and alerts match.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// Holds a call's observer while its answer is being made. Dropped
/// unanswered (the client cancelled, and hyper dropped the handler), the
/// call ended CANCELLED.
pub struct Pending<O: CallObserver>(Option<O>);

impl<O: CallObserver> Pending<O> {
    pub fn new(observer: O) -> Self {
        Self(Some(observer))
    }

    /// The observer, for the answer's body.
    pub fn answered(mut self) -> Option<O> {
        self.0.take()
    }
}

impl<O: CallObserver> Drop for Pending<O> {
    fn drop(&mut self) {
        if let Some(observer) = self.0.take() {
            observer.end(Code::Cancelled);
        }
    }
}

/// A response body that reports to `observer` as it is sent.
pub struct ObservedBody<B, O: CallObserver> {
    inner: B,
    observer: Option<O>,
}

impl<B, O: CallObserver> ObservedBody<B, O> {
    /// Observes the body of `headers`' response; a trailers-only answer
    /// ends the call now.
    pub fn new(inner: B, headers: &HeaderMap, observer: Option<O>) -> Self {
        let observer = match (observer, grpc_status(headers)) {
            (Some(observer), Some(code)) => {
                observer.end(code);
                None
            }
            (observer, _) => observer,
        };
        Self { inner, observer }
    }

    /// A body that reports nothing.
    pub fn unobserved(inner: B) -> Self {
        Self {
            inner,
            observer: None,
        }
    }

    fn end(&mut self, code: Code) {
        if let Some(observer) = self.observer.take() {
            observer.end(code);
        }
    }
}

impl<B, O: CallObserver> Drop for ObservedBody<B, O> {
    fn drop(&mut self) {
        // Dropped before its trailers: hyper gave up on the stream because
        // the client cancelled or disconnected.
        self.end(Code::Cancelled);
    }
}

impl<B, O> Body for ObservedBody<B, O>
where
    B: Body<Data = Bytes> + Unpin,
    O: CallObserver,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if this.observer.is_none() {
            return polled;
        }
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(chunk) = frame.data_ref() {
                    if let Some(observer) = this.observer.as_mut() {
                        observer.data(chunk);
                    }
                } else if let Some(trailers) = frame.trailers_ref() {
                    this.end(grpc_status(trailers).unwrap_or(Code::Unknown));
                }
            }
            // A body that fails is reset by hyper: the client sees no status.
            Poll::Ready(Some(Err(_))) => this.end(Code::Unknown),
            // Ended without trailers: a gRPC client reads that as UNKNOWN.
            Poll::Ready(None) => this.end(Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Counts the length-prefixed gRPC messages (1 flag byte, 4 length bytes,
/// the message) in a body's chunks, which need not align with messages.
#[derive(Debug, Default)]
pub struct MessageCounter {
    header: [u8; 5],
    header_read: usize,
    /// Bytes of the current message still to come.
    remaining: u64,
}

impl MessageCounter {
    /// The messages whose header starts in `chunk`.
    pub fn count(&mut self, mut chunk: &[u8]) -> u64 {
        let mut started = 0;
        while !chunk.is_empty() {
            if self.remaining > 0 {
                let skip = self.remaining.min(chunk.len() as u64);
                self.remaining -= skip;
                chunk = &chunk[skip as usize..];
                continue;
            }
            let take = (5 - self.header_read).min(chunk.len());
            self.header[self.header_read..self.header_read + take].copy_from_slice(&chunk[..take]);
            self.header_read += take;
            chunk = &chunk[take..];
            if self.header_read == 5 {
                started += 1;
                self.header_read = 0;
                let length = [
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ];
                self.remaining = u64::from(u32::from_be_bytes(length));
            }
        }
        started
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use http_body_util::{BodyExt, StreamBody};

    use super::*;

    fn message(length: usize) -> Vec<u8> {
        let mut bytes = vec![0];
        bytes.extend_from_slice(&(length as u32).to_be_bytes());
        bytes.extend(std::iter::repeat_n(7, length));
        bytes
    }

    #[test]
    fn messages_are_counted_across_any_chunking() {
        let mut stream = Vec::new();
        for length in [0, 3, 300, 1, 0, 70_000] {
            stream.extend(message(length));
        }
        for chunk_size in [1, 2, 4, 5, 6, 64, 1000, stream.len()] {
            let mut counter = MessageCounter::default();
            let total: u64 = stream.chunks(chunk_size).map(|c| counter.count(c)).sum();
            assert_eq!(total, 6, "chunks of {chunk_size}");
        }
    }

    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<(u64, Vec<Code>)>>);

    struct Recorder(Seen, MessageCounter);

    impl CallObserver for Recorder {
        fn data(&mut self, chunk: &Bytes) {
            (self.0).0.lock().unwrap().0 += self.1.count(chunk);
        }
        fn end(self, code: Code) {
            (self.0).0.lock().unwrap().1.push(code);
        }
    }

    type Frames = Vec<Result<Frame<Bytes>, std::convert::Infallible>>;

    fn body(frames: Frames) -> impl Body<Data = Bytes, Error = std::convert::Infallible> + Unpin {
        StreamBody::new(tokio_stream::iter(frames))
    }

    fn trailers(code: i32) -> Frame<Bytes> {
        let mut map = HeaderMap::new();
        map.insert("grpc-status", code.into());
        Frame::trailers(map)
    }

    #[tokio::test]
    async fn the_code_comes_from_the_trailers_the_headers_or_a_drop() {
        let seen = Seen::default();
        let observer = || Some(Recorder(seen.clone(), MessageCounter::default()));
        let two_messages: Vec<u8> = [message(2), message(4)].concat();

        let frames = vec![
            Ok(Frame::data(Bytes::from(two_messages))),
            Ok(trailers(Code::OutOfRange as i32)),
        ];
        let observed = ObservedBody::new(body(frames), &HeaderMap::new(), observer());
        observed.collect().await.unwrap();

        let mut trailers_only = HeaderMap::new();
        trailers_only.insert("grpc-status", (Code::InvalidArgument as i32).into());
        drop(ObservedBody::new(body(vec![]), &trailers_only, observer()));

        let unfinished = vec![Ok(Frame::data(Bytes::from(message(1))))];
        let mut observed = ObservedBody::new(body(unfinished), &HeaderMap::new(), observer());
        observed.frame().await.unwrap().unwrap();
        drop(observed);

        let (messages, codes) = seen.0.lock().unwrap().clone();
        assert_eq!(messages, 3);
        assert_eq!(
            codes,
            vec![Code::OutOfRange, Code::InvalidArgument, Code::Cancelled]
        );
    }
}
