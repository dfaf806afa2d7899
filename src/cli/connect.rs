//! Connecting to a running server: the address, the channel, deadlines.

use std::{future::Future, path::PathBuf, time::Duration};

use learning_service::pb::{
    budget_service_client::BudgetServiceClient, entropy_service_client::EntropyServiceClient,
};
use tonic::{
    Code, Request, Response, Status,
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};
use tonic_health::pb::health_client::HealthClient;

use super::{failure::Failure, tls, token::BearerToken};

/// How to reach the server. Shared by every client subcommand.
///
/// The environment variables of the client certificate differ from the
/// server's (`--tls-cert`, `--tls-key`): on a host where both run, the CLI
/// must not pick up the server's own certificate as its client identity.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectOptions {
    /// Server address: `http://host:port`, `https://host:port` or `host:port`
    /// (https when a TLS option is given, else http).
    #[arg(long, env = "LEARNING_SERVER", default_value = "127.0.0.1:50051")]
    pub server: String,

    /// Trust this CA certificate (PEM) to verify the server; implies https.
    #[arg(long, env = "LEARNING_TLS_CA", value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,

    /// Client certificate (PEM) for mutual TLS; needs --tls-key.
    #[arg(
        long,
        env = "LEARNING_CLIENT_CERT",
        value_name = "PEM",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// Private key (PEM) of the client certificate; needs --tls-cert.
    #[arg(
        long,
        env = "LEARNING_CLIENT_KEY",
        value_name = "PEM",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// File holding the bearer token, sent as `authorization: Bearer <token>`.
    /// Its first line that is not blank or a `#` comment is the token.
    /// Without it, the token is read from LEARNING_TOKEN when that is set.
    #[arg(long, env = "LEARNING_TOKEN_FILE", value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// How long to wait to connect, and for each answer (e.g. `10s`, `500ms`).
    #[arg(long, env = "LEARNING_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// A client of the channel that adds the bearer token.
pub type Authorized = InterceptedService<Channel, BearerToken>;

/// An open channel to the server, with what every call needs.
pub struct Connection {
    channel: Channel,
    token: BearerToken,
    timeout: Duration,
    server: String,
    /// TLS without a client certificate: a server that wants one closes
    /// the connection after the handshake, which looks like a bare cancel.
    anonymous_tls: bool,
}

impl Connection {
    /// Connects now, so an unreachable server or a failed TLS handshake is
    /// reported once, clearly, before any call.
    pub async fn open(options: &ConnectOptions) -> Result<Self, Failure> {
        let token = BearerToken::from_options(options)?;
        let endpoint = endpoint(options)?;
        let server = endpoint.uri().to_string();
        let server = server.trim_end_matches('/').to_string();
        let anonymous_tls = server.starts_with("https://") && options.tls_cert.is_none();
        let channel = endpoint.connect().await.map_err(|error| Failure::Connect {
            server: server.clone(),
            error,
        })?;
        Ok(Self {
            channel,
            token,
            timeout: options.timeout,
            server,
            anonymous_tls,
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn budget(&self) -> BudgetServiceClient<Authorized> {
        BudgetServiceClient::with_interceptor(self.channel.clone(), self.token.clone())
    }

    pub fn entropy(&self) -> EntropyServiceClient<Authorized> {
        EntropyServiceClient::with_interceptor(self.channel.clone(), self.token.clone())
    }

    pub fn health(&self) -> HealthClient<Authorized> {
        HealthClient::with_interceptor(self.channel.clone(), self.token.clone())
    }

    /// A unary request that tells the server our deadline (`grpc-timeout`).
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(self.timeout);
        request
    }

    /// Awaits a unary call, giving up at the deadline even if the server
    /// never answers (the header alone relies on the server to enforce it).
    pub async fn call<T>(
        &self,
        call: impl Future<Output = Result<Response<T>, Status>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result
                .map(Response::into_inner)
                .map_err(|status| self.explain(status).into()),
            Err(_) => Err(self.no_answer().into()),
        }
    }

    /// DEADLINE_EXCEEDED, as a deadline of this side, named.
    pub fn no_answer(&self) -> Status {
        Status::deadline_exceeded(format!(
            "no answer from {} within {}",
            self.server,
            humantime::format_duration(self.timeout)
        ))
    }
}

impl Connection {
    /// Adds what the person can do about a status the CLI can interpret.
    pub fn explain(&self, status: Status) -> Status {
        // tonic reports its connect timeout (a server that accepts the
        // connection but never speaks HTTP/2) as CANCELLED "Timeout expired".
        if status.code() == Code::Cancelled && status.message() == "Timeout expired" {
            return self.no_answer();
        }
        if self.anonymous_tls && from_broken_connection(&status) {
            return Status::new(
                Code::Cancelled,
                format!(
                    "{}: the server closed the connection; if it requires client \
                     certificates (mutual TLS), pass --tls-cert and --tls-key",
                    status.message()
                ),
            );
        }
        status
    }
}

/// A status made on this side because the connection broke, rather than
/// an answer of the server: such a status has a source error, which one
/// read from the server's trailers never has; or it is a bare CANCELLED,
/// which is how hyper reports a request cut off by a closed connection.
pub fn from_broken_connection(status: &Status) -> bool {
    status.code() == Code::Cancelled || std::error::Error::source(status).is_some()
}

/// The endpoint for `--server` with TLS when asked for.
fn endpoint(options: &ConnectOptions) -> Result<Endpoint, Failure> {
    let tls = options.tls_ca.is_some() || options.tls_cert.is_some();
    let address = server_uri(&options.server, tls)?;
    let mut endpoint = Endpoint::from_shared(address.clone())
        .map_err(|e| Failure::Message(format!("--server {}: {e}", options.server)))?
        .connect_timeout(options.timeout)
        // A watch can stay quiet for long; keepalive pings notice a dead
        // peer (e.g. a lost network) that no error would ever report.
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    if address.starts_with("https://") {
        endpoint = endpoint
            .tls_config(tls::config(options)?)
            .map_err(|e| Failure::Message(format!("TLS settings: {e}")))?;
    }
    Ok(endpoint)
}

/// `host:port` gets a scheme: https when TLS options are given, else http.
/// An explicit `http://` with TLS options is a contradiction, not a guess.
pub fn server_uri(server: &str, tls: bool) -> Result<String, Failure> {
    let server = server.trim();
    if server.is_empty() {
        return Err(Failure::Message("--server is empty".into()));
    }
    if let Some(rest) = server.strip_prefix("http://") {
        if tls {
            return Err(Failure::Message(format!(
                "--server {server} is plain http, but TLS options are given; use https://{rest}"
            )));
        }
        return Ok(server.to_string());
    }
    if server.starts_with("https://") {
        return Ok(server.to_string());
    }
    if server.contains("://") {
        return Err(Failure::Message(format!(
            "--server {server}: only http:// and https:// are supported"
        )));
    }
    let scheme = if tls { "https" } else { "http" };
    Ok(format!("{scheme}://{server}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_get_a_scheme() {
        let uri = |s: &str, tls: bool| server_uri(s, tls).map_err(|f| f.to_string());
        assert_eq!(
            uri("127.0.0.1:50051", false).unwrap(),
            "http://127.0.0.1:50051"
        );
        assert_eq!(uri("localhost:1", true).unwrap(), "https://localhost:1");
        assert_eq!(uri("http://h:1", false).unwrap(), "http://h:1");
        assert_eq!(uri("https://h:1", false).unwrap(), "https://h:1");
        assert!(uri("http://h:1", true).unwrap_err().contains("https://h:1"));
        assert!(uri("ftp://h:1", false).is_err());
        assert!(uri(" ", false).is_err());
    }
}
