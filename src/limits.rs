//! Limits that keep one client from exhausting the server: message size,
//! concurrent calls per connection and in all, open connections, and the
//! time a call, a request body and a handshake may take.
//! (The bounded write queue is the store's: `StoreOptions::write_queue_capacity`.)

use std::time::Duration;

/// tonic's own default for received messages; also applied to sent ones,
/// which tonic leaves unlimited.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// hyper's default; stated here so it is visible and configurable.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 200;
pub const DEFAULT_REQUEST_TIMEOUT_MAX: Duration = Duration::from_secs(30);
/// Open connections. Far below the usual open-file limits once the soft
/// limit is raised; an idle connection costs about 30 KiB.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Calls in progress across all connections, streams included: room for
/// `--max-subscribers` (2048) streams and as many other calls.
pub const DEFAULT_MAX_CALLS: usize = 4096;
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_REQUEST_RECEIVE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest message received or sent by any service; beyond it,
    /// RESOURCE_EXHAUSTED for a request, OUT_OF_RANGE for an answer.
    pub max_message_bytes: usize,
    /// Concurrent calls (HTTP/2 streams) per connection; more wait for a free one.
    pub max_concurrent_streams: u32,
    /// A unary call still running after min(this, the client's deadline) is
    /// answered DEADLINE_EXCEEDED. Streams are not cut. `None`: no ceiling.
    pub request_timeout_max: Option<Duration>,
    /// Open TCP connections; one more is closed at once.
    pub max_connections: usize,
    /// Calls in progress across all connections; one more is RESOURCE_EXHAUSTED.
    pub max_calls: usize,
    /// A connection that has not spoken (TLS or the HTTP/2 preface) within
    /// this is closed. `None`: never.
    pub handshake_timeout: Option<Duration>,
    /// A call whose request has not arrived within this is DEADLINE_EXCEEDED.
    /// `None`: no limit.
    pub request_receive_timeout: Option<Duration>,
    /// HTTP/2 PING on a connection this quiet; `None`: never.
    pub http2_keepalive_interval: Option<Duration>,
    /// A connection whose PING is not answered within this is closed.
    pub http2_keepalive_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            request_timeout_max: Some(DEFAULT_REQUEST_TIMEOUT_MAX),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_calls: DEFAULT_MAX_CALLS,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            request_receive_timeout: Some(DEFAULT_REQUEST_RECEIVE_TIMEOUT),
            http2_keepalive_interval: Some(DEFAULT_HTTP2_KEEPALIVE_INTERVAL),
            http2_keepalive_timeout: DEFAULT_HTTP2_KEEPALIVE_TIMEOUT,
        }
    }
}

/// Applies the message-size limit, both ways, to a generated service. A
/// macro because the generated servers share the methods but no trait.
macro_rules! limit_messages {
    ($service:expr, $limits:expr) => {
        $service
            .max_decoding_message_size($limits.max_message_bytes)
            .max_encoding_message_size($limits.max_message_bytes)
    };
}
pub(crate) use limit_messages;
