//! Flags for TLS, bearer tokens, limits and health probing.

use std::{path::PathBuf, time::Duration};

use crate::{
    auth::BearerTokens,
    limits::{
        DEFAULT_MAX_CALLS, DEFAULT_MAX_CONCURRENT_STREAMS, DEFAULT_MAX_CONNECTIONS,
        DEFAULT_MAX_MESSAGE_BYTES, Limits,
    },
    server::ServerOptions,
    tls::TlsSettings,
};

#[derive(Clone, Debug, clap::Args)]
pub struct HardeningArgs {
    /// Server certificate chain (PEM). With --tls-key, the server speaks TLS only.
    #[arg(long, env = "LEARNING_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// Private key of --tls-cert (PEM).
    #[arg(long, env = "LEARNING_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// CA certificate (PEM): clients must present a certificate signed by it.
    #[arg(long, env = "LEARNING_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// File of bearer tokens, one per line: every service but grpc.health.v1
    /// then needs the metadata `authorization: Bearer <token>`.
    #[arg(long, env = "LEARNING_AUTH_TOKEN_FILE")]
    pub auth_token_file: Option<PathBuf>,

    /// Largest message received or sent, in bytes.
    #[arg(long, env = "LEARNING_MAX_MESSAGE_BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_message_bytes: u32,

    /// Concurrent calls per connection (HTTP/2 streams).
    #[arg(long, env = "LEARNING_MAX_CONCURRENT_STREAMS", default_value_t = DEFAULT_MAX_CONCURRENT_STREAMS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_streams: u32,

    /// Longest a unary call may take (the client's deadline applies if shorter);
    /// streams are not cut. `0s`: no ceiling.
    #[arg(long, env = "LEARNING_REQUEST_TIMEOUT_MAX", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout_max: Duration,

    /// Open connections; one more is closed at once (lowered to fit the open-file limit).
    #[arg(long, env = "LEARNING_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Calls in progress across all connections, streams included; one more
    /// gets RESOURCE_EXHAUSTED (health has a few slots of its own).
    #[arg(long, env = "LEARNING_MAX_CALLS", default_value_t = DEFAULT_MAX_CALLS as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_calls: u32,

    /// A connection that has not completed its handshake (TLS, HTTP/2
    /// preface) within this is closed. `0s`: never.
    #[arg(long, env = "LEARNING_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub handshake_timeout: Duration,

    /// A call whose request has not arrived within this gets DEADLINE_EXCEEDED. `0s`: no limit.
    #[arg(long, env = "LEARNING_REQUEST_RECEIVE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_receive_timeout: Duration,

    /// An HTTP/2 PING goes out on a connection this quiet. `0s`: never.
    #[arg(long, env = "LEARNING_HTTP2_KEEPALIVE_INTERVAL", default_value = "60s", value_parser = humantime::parse_duration)]
    pub http2_keepalive_interval: Duration,

    /// A connection whose PING is not answered within this is closed.
    #[arg(long, env = "LEARNING_HTTP2_KEEPALIVE_TIMEOUT", default_value = "20s", value_parser = humantime::parse_duration)]
    pub http2_keepalive_timeout: Duration,

    /// How often the store is probed for grpc.health.v1. `0s`: never.
    #[arg(long, env = "LEARNING_HEALTH_CHECK_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub health_check_interval: Duration,

    /// After SIGTERM/SIGINT, how long open calls and connections may take to
    /// finish before the server stops waiting (queued writes are still committed).
    #[arg(long, env = "LEARNING_SHUTDOWN_GRACE", default_value = "20s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
}

impl HardeningArgs {
    /// Reads the certificate and token files into `options`; the error names the file.
    pub fn apply(&self, options: &mut ServerOptions) -> Result<(), String> {
        options.tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsSettings::from_files(
                cert,
                key,
                self.tls_client_ca.as_deref(),
            )?),
            _ => None,
        };
        options.auth = self
            .auth_token_file
            .as_deref()
            .map(BearerTokens::from_file)
            .transpose()?;
        options.limits = Limits {
            max_message_bytes: self.max_message_bytes as usize,
            max_concurrent_streams: self.max_concurrent_streams,
            request_timeout_max: Some(self.request_timeout_max).filter(|t| !t.is_zero()),
            max_connections: self.max_connections as usize,
            max_calls: self.max_calls as usize,
            handshake_timeout: Some(self.handshake_timeout).filter(|t| !t.is_zero()),
            request_receive_timeout: Some(self.request_receive_timeout).filter(|t| !t.is_zero()),
            http2_keepalive_interval: Some(self.http2_keepalive_interval).filter(|t| !t.is_zero()),
            http2_keepalive_timeout: self.http2_keepalive_timeout,
        };
        if self.http2_keepalive_timeout.is_zero() {
            return Err("--http2-keepalive-timeout must be greater than 0".into());
        }
        options.health_check_interval = self.health_check_interval;
        options.shutdown_grace = self.shutdown_grace;
        Ok(())
    }
}
