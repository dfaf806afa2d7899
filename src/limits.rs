//! Limits that keep one client from exhausting the server: message size,
//! concurrent calls per connection, and a ceiling on a unary call's duration.
//! (The bounded write queue is the store's: `StoreOptions::write_queue_capacity`.)

use std::time::Duration;

/// tonic's own default for received messages; also applied to sent ones,
/// which tonic leaves unlimited.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// hyper's default; stated here so it is visible and configurable.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 200;
pub const DEFAULT_REQUEST_TIMEOUT_MAX: Duration = Duration::from_secs(30);

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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            request_timeout_max: Some(DEFAULT_REQUEST_TIMEOUT_MAX),
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
