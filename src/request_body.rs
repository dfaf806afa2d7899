//! Checks on a call's request body as it arrives, for every service (health
//! and reflection included), before any decoder sees it:
//!
//! - **Size.** A gRPC message whose length prefix is over the limit fails the
//!   call with RESOURCE_EXHAUSTED, as gRPC specifies ("Received message larger
//!   than max") and as the Go, Java and C++ servers answer, as soon as its
//!   5-byte prefix arrives (nothing of it is buffered). tonic's own check would
//!   answer OUT_OF_RANGE, and reflection, which drops the error of its request
//!   stream, would end its stream with OK; so the refusal is also written into
//!   the call's trailers.
//! - **Time.** A call whose request has not arrived within the receive
//!   timeout fails with DEADLINE_EXCEEDED: the whole body, while the answer
//!   has not started (unary and server-streaming calls), and at least its
//!   first message (reflection's bidirectional stream, which answers at
//!   once). Otherwise a stream whose client never sends its body would hold
//!   its memory, and a call slot, until the client went away.
//! - **Truncation.** A body that ends inside a message is INVALID_ARGUMENT,
//!   not tonic's INTERNAL "Unexpected EOF".

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::time::{Instant, Sleep};
use tonic::{Status, body::Body};
use tower::{Layer, Service};

/// The gRPC length prefix: a compression flag and a big-endian u32.
const PREFIX_LEN: usize = 5;

#[derive(Clone, Copy, Debug)]
pub struct RequestBodyLayer {
    max_message_bytes: usize,
    receive_timeout: Option<Duration>,
}

impl RequestBodyLayer {
    /// `receive_timeout`: zero or `None` means no limit.
    pub fn new(max_message_bytes: usize, receive_timeout: Option<Duration>) -> Self {
        Self {
            max_message_bytes,
            receive_timeout: receive_timeout.filter(|t| !t.is_zero()),
        }
    }
}

impl<S> Layer<S> for RequestBodyLayer {
    type Service = RequestBodyChecks<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestBodyChecks {
            inner,
            settings: *self,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RequestBodyChecks<S> {
    inner: S,
    settings: RequestBodyLayer,
}

/// What the request side tells the response side of one call.
#[derive(Default)]
struct CallState {
    /// The refusal of the request, once there is one.
    refused: OnceLock<Status>,
    /// The answer's head was produced.
    answering: AtomicBool,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S> Service<Request<Body>> for RequestBodyChecks<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let state = Arc::new(CallState::default());
        let settings = self.settings;
        let request = request.map(|body| {
            Body::new(CheckedRequest {
                inner: body,
                max_message_bytes: settings.max_message_bytes,
                receive_timeout: settings.receive_timeout,
                deadline: settings
                    .receive_timeout
                    .map(|timeout| Box::pin(tokio::time::sleep_until(Instant::now() + timeout))),
                prefix: [0; PREFIX_LEN],
                prefix_len: 0,
                payload_left: 0,
                messages: 0,
                state: state.clone(),
            })
        });
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            state.answering.store(true, Ordering::Release);
            // Once the request was refused, the answer's trailers carry the
            // refusal whatever the service made of it.
            Ok(response.map(|body| {
                Body::new(body.map_frame(move |frame| match frame.into_trailers() {
                    Ok(mut trailers) => {
                        if let Some(refused) = state.refused.get() {
                            write_status(&mut trailers, refused);
                        }
                        Frame::trailers(trailers)
                    }
                    Err(frame) => frame,
                }))
            }))
        })
    }
}

/// The request body, inspected frame by frame.
struct CheckedRequest {
    inner: Body,
    max_message_bytes: usize,
    receive_timeout: Option<Duration>,
    /// Armed until the request has arrived (see the module comment).
    deadline: Option<Pin<Box<Sleep>>>,
    prefix: [u8; PREFIX_LEN],
    prefix_len: usize,
    /// Bytes of the current message still to come.
    payload_left: u64,
    /// Messages received whole.
    messages: u64,
    state: Arc<CallState>,
}

impl CheckedRequest {
    fn refuse(&self, status: Status) -> Status {
        self.state.refused.get_or_init(|| status).clone()
    }

    /// Follows the message boundaries through one chunk of data.
    fn scan(&mut self, mut data: &[u8]) -> Result<(), Status> {
        while !data.is_empty() {
            if self.payload_left > 0 {
                let taken = data.len().min(self.payload_left as usize);
                self.payload_left -= taken as u64;
                data = &data[taken..];
                if self.payload_left == 0 {
                    self.messages += 1;
                }
                continue;
            }
            let taken = data.len().min(PREFIX_LEN - self.prefix_len);
            self.prefix[self.prefix_len..self.prefix_len + taken].copy_from_slice(&data[..taken]);
            self.prefix_len += taken;
            data = &data[taken..];
            if self.prefix_len == PREFIX_LEN {
                self.prefix_len = 0;
                let length = u32::from_be_bytes([
                    self.prefix[1],
                    self.prefix[2],
                    self.prefix[3],
                    self.prefix[4],
                ]);
                if length as usize > self.max_message_bytes {
                    return Err(Status::resource_exhausted(format!(
                        "the request message is {length} bytes, over the server's limit of {} bytes",
                        self.max_message_bytes
                    )));
                }
                self.payload_left = u64::from(length);
                if length == 0 {
                    self.messages += 1;
                }
            }
        }
        Ok(())
    }

    fn inside_a_message(&self) -> bool {
        self.prefix_len > 0 || self.payload_left > 0
    }

    /// The deadline stops once the request has arrived: a first whole message
    /// while the answer is streaming (a bidirectional call), the whole body
    /// otherwise.
    fn disarm_when_arrived(&mut self) {
        let first_message_in = self.messages > 0 && !self.inside_a_message();
        if first_message_in && self.state.answering.load(Ordering::Acquire) {
            self.deadline = None;
        }
    }
}

impl HttpBody for CheckedRequest {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if let Some(refused) = self.state.refused.get() {
            return Poll::Ready(Some(Err(refused.clone())));
        }
        self.disarm_when_arrived();
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let frame = match polled {
            Poll::Pending => {
                if let Some(deadline) = self.deadline.as_mut() {
                    ready!(deadline.as_mut().poll(cx));
                    let timeout = self.receive_timeout.unwrap_or_default();
                    let status = Status::deadline_exceeded(format!(
                        "the request did not arrive within the server's limit of {}",
                        humantime::format_duration(timeout)
                    ));
                    tracing::debug!("a request body did not arrive in time");
                    return Poll::Ready(Some(Err(self.refuse(status))));
                }
                return Poll::Pending;
            }
            Poll::Ready(None) => {
                self.deadline = None;
                if self.inside_a_message() {
                    let status = Status::invalid_argument(
                        "the request ended inside a message (a truncated gRPC frame)",
                    );
                    return Poll::Ready(Some(Err(self.refuse(status))));
                }
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        if let Some(data) = frame.data_ref() {
            let data = data.clone();
            if let Err(status) = self.scan(&data) {
                tracing::debug!(%status, "refused a request message");
                return Poll::Ready(Some(Err(self.refuse(status))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.state.refused.get().is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Replaces the status in `trailers` by `status` (unless it already failed
/// the same way).
fn write_status(trailers: &mut HeaderMap, status: &Status) {
    let code = HeaderValue::from(status.code() as i32);
    if trailers.get("grpc-status") == Some(&code) {
        return;
    }
    let mut fresh = HeaderMap::new();
    if status.add_header(&mut fresh).is_ok() {
        for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
            trailers.remove(name);
        }
        trailers.extend(fresh);
    } else {
        trailers.insert("grpc-status", code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    /// A request body of these chunks, checked with a limit of 10 bytes.
    fn checked(chunks: &[&'static [u8]]) -> CheckedRequest {
        let frames: Vec<Result<Frame<Bytes>, Status>> = chunks
            .iter()
            .map(|chunk| Ok(Frame::data(Bytes::from_static(chunk))))
            .collect();
        CheckedRequest {
            inner: Body::new(http_body_util::StreamBody::new(tokio_stream::iter(frames))),
            max_message_bytes: 10,
            receive_timeout: None,
            deadline: None,
            prefix: [0; PREFIX_LEN],
            prefix_len: 0,
            payload_left: 0,
            messages: 0,
            state: Arc::new(CallState::default()),
        }
    }

    async fn outcome(body: CheckedRequest) -> Result<usize, Code> {
        let collected = body.collect().await.map_err(|status| status.code())?;
        Ok(collected.to_bytes().len())
    }

    #[tokio::test]
    async fn messages_within_the_limit_pass_whatever_the_chunking() {
        // Two messages (10 bytes and empty), the prefixes split across chunks.
        let body = checked(&[b"\0\0", b"\0\0\x0a0123", b"456789\0\0\0", b"\0\0"]);
        assert_eq!(outcome(body).await, Ok(20));
    }

    #[tokio::test]
    async fn a_prefix_over_the_limit_is_resource_exhausted_before_its_payload() {
        let body = checked(&[b"\0\0\0", b"\0\x0b"]);
        let state = body.state.clone();
        assert_eq!(outcome(body).await, Err(Code::ResourceExhausted));
        assert_eq!(
            state.refused.get().map(Status::code),
            Some(Code::ResourceExhausted)
        );
    }

    #[tokio::test]
    async fn a_body_that_ends_inside_a_message_is_invalid_argument() {
        assert_eq!(
            outcome(checked(&[b"\0\0\0\0\x05ab"])).await,
            Err(Code::InvalidArgument)
        );
        assert_eq!(
            outcome(checked(&[b"\0\0"])).await,
            Err(Code::InvalidArgument)
        );
    }

    #[tokio::test]
    async fn the_receive_deadline_ends_a_body_that_does_not_come() {
        let mut body = checked(&[]);
        body.inner = Body::new(http_body_util::StreamBody::new(tokio_stream::pending::<
            Result<Frame<Bytes>, Status>,
        >()));
        body.receive_timeout = Some(Duration::from_millis(10));
        body.deadline = Some(Box::pin(tokio::time::sleep(Duration::from_millis(10))));
        assert_eq!(outcome(body).await, Err(Code::DeadlineExceeded));
    }
}
