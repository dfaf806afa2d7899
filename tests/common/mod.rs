//! Shared test setup: a real server on 127.0.0.1:0 over a temporary store
//! on the backend `backend::chosen()` names (a SQLite file by default).

#![allow(dead_code)]

pub mod backend;
pub mod certs;
pub mod valid;

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use learning_service::{
    pb::{
        self, budget_service_client::BudgetServiceClient,
        entropy_service_client::EntropyServiceClient, pattern_service_client::PatternServiceClient,
    },
    server::{self, ServerOptions},
    store::{Store, StoreOptions, sqlite::SqliteStore},
};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::{
    Code, Request, Status,
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, Channel, ClientTlsConfig, Identity},
};
use tonic_types::StatusExt;

pub struct TestServer {
    pub address: SocketAddr,
    pub db: PathBuf,
    _dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    store: Arc<dyn Store>,
    /// The same store when the backend is SQLite (for file-level tests).
    sqlite: Option<Arc<SqliteStore>>,
    channel: Channel,
}

impl TestServer {
    /// A server over a new database file.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("learning.db");
        let mut server = Self::start_on(db).await;
        server._dir = Some(dir);
        server
    }

    /// A server whose health probe runs every 50 ms, over a new database file.
    pub async fn probed_often() -> Self {
        Self::start_with(ServerOptions {
            health_check_interval: std::time::Duration::from_millis(50),
            ..ServerOptions::default()
        })
        .await
    }

    /// A server with these options over a new database file.
    pub async fn start_with(options: ServerOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("learning.db");
        let mut server = Self::start_on_with(db, options).await;
        server._dir = Some(dir);
        server
    }

    /// A server over an existing (or new) file; the caller owns its directory.
    pub async fn start_on(db: PathBuf) -> Self {
        Self::start_on_with(db, ServerOptions::default()).await
    }

    pub async fn start_on_with(db: PathBuf, options: ServerOptions) -> Self {
        Self::start_on_with_store(db, options, StoreOptions::default()).await
    }

    /// A server with these options and store options over a new database file.
    pub async fn start_with_store(options: ServerOptions, store_options: StoreOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("learning.db");
        let mut server = Self::start_on_with_store(db, options, store_options).await;
        server._dir = Some(dir);
        server
    }

    /// The default channel is plaintext and connects lazily, so a TLS server
    /// starts too; reach one with [`TestServer::connect`].
    pub async fn start_on_with_store(
        db: PathBuf,
        options: ServerOptions,
        store_options: StoreOptions,
    ) -> Self {
        let (store, sqlite) = backend::open(&db, store_options).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = store.clone();
        let task = tokio::spawn(async move {
            server::serve(served, listener, options, async {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
        });
        let channel = Channel::from_shared(format!("http://{address}"))
            .expect("uri")
            .connect_lazy();
        Self {
            address,
            db,
            _dir: None,
            stop: Some(stop),
            task: Some(task),
            store,
            sqlite,
            channel,
        }
    }

    pub fn budget(&self) -> BudgetServiceClient<Channel> {
        BudgetServiceClient::new(self.channel.clone())
    }

    pub fn entropy(&self) -> EntropyServiceClient<Channel> {
        EntropyServiceClient::new(self.channel.clone())
    }

    pub fn patterns(&self) -> PatternServiceClient<Channel> {
        PatternServiceClient::new(self.channel.clone())
    }

    /// What the store's writer did so far (operations, commits, largest batch).
    pub fn write_counts(&self) -> learning_service::store::WriteCounts {
        self.store.write_counts()
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The SQLite store behind the server (for tests of SQLite itself).
    pub fn sqlite(&self) -> Arc<SqliteStore> {
        self.sqlite
            .clone()
            .expect("this test needs the SQLite backend")
    }

    /// A new connection: TLS when `ca_pem` is given (server name `localhost`),
    /// presenting `identity` (certificate and key PEM) when given.
    pub async fn connect(
        &self,
        ca_pem: Option<&str>,
        identity: Option<(&str, &str)>,
    ) -> Result<Channel, tonic::transport::Error> {
        let Some(ca) = ca_pem else {
            return Channel::from_shared(format!("http://{}", self.address))
                .expect("uri")
                .connect()
                .await;
        };
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .domain_name("localhost");
        if let Some((cert, key)) = identity {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        Channel::from_shared(format!("https://localhost:{}", self.address.port()))
            .expect("uri")
            .tls_config(tls)?
            .connect()
            .await
    }

    /// The grpc.health.v1 client on the default channel.
    pub fn health(&self) -> tonic_health::pb::health_client::HealthClient<Channel> {
        tonic_health::pb::health_client::HealthClient::new(self.channel.clone())
    }

    /// A direct connection to the database file, as another program would open it.
    pub fn sql(&self) -> rusqlite::Connection {
        let connection = rusqlite::Connection::open(&self.db).expect("open db");
        connection
            .busy_timeout(std::time::Duration::from_secs(30))
            .expect("busy timeout");
        connection
    }

    /// Row counts of every table the service writes.
    pub fn row_counts(&self) -> Vec<(String, i64)> {
        let tables = [
            "exploration_budget",
            "entropy_responses",
            "pattern_entropy_history",
            "patterns",
            "pattern_applications",
        ];
        if self.sqlite.is_none() {
            return backend::postgres_row_counts(&self.db, &tables);
        }
        let connection = self.sql();
        tables
            .iter()
            .map(|table| {
                let count = connection
                    .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                    .expect("count");
                (table.to_string(), count)
            })
            .collect()
    }

    /// Row counts of every table in the store, the service's own included.
    pub fn all_row_counts(&self) -> Vec<(String, i64)> {
        if self.sqlite.is_none() {
            let tables = backend::postgres_tables(&self.db);
            let tables: Vec<&str> = tables.iter().map(String::as_str).collect();
            return backend::postgres_row_counts(&self.db, &tables);
        }
        let connection = self.sql();
        let tables: Vec<String> = connection
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name",
            )
            .expect("list tables")
            .query_map([], |r| r.get(0))
            .expect("list tables")
            .collect::<rusqlite::Result<_>>()
            .expect("list tables");
        tables
            .into_iter()
            .map(|table| {
                let count = connection
                    .query_row(&format!("SELECT COUNT(*) FROM \"{table}\""), [], |r| {
                        r.get(0)
                    })
                    .expect("count");
                (table, count)
            })
            .collect()
    }

    /// The integer answer of `query` (SQL valid on both backends; cast sums
    /// `AS BIGINT`, which PostgreSQL would return as NUMERIC), on this
    /// server's store, whichever backend it is.
    pub fn scalar(&self, query: &str) -> i64 {
        if self.sqlite.is_none() {
            return backend::postgres_scalars(&self.db, vec![query.to_string()])[0];
        }
        self.sql()
            .query_row(query, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    /// The text answer of `query` (SQL valid on both backends; one row).
    pub fn text(&self, query: &str) -> String {
        let mut texts = self.texts(query);
        assert_eq!(texts.len(), 1, "{query}: {texts:?}");
        texts.remove(0)
    }

    /// The text answers of `query` (SQL valid on both backends; one column).
    pub fn texts(&self, query: &str) -> Vec<String> {
        if self.sqlite.is_none() {
            return backend::postgres_texts(&self.db, query.to_string());
        }
        let connection = self.sql();
        let mut statement = connection
            .prepare(query)
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        statement
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    /// Runs `statement` (SQL valid on both backends, no parameters) on this
    /// server's store, as an operator's tool would; the rows it changed.
    pub fn execute(&self, statement: &str) -> u64 {
        if self.sqlite.is_none() {
            return backend::postgres_execute(&self.db, statement.to_string());
        }
        self.sql()
            .execute(statement, [])
            .unwrap_or_else(|e| panic!("{statement}: {e}")) as u64
    }

    /// Another client holds the write lock (SQLite: `BEGIN IMMEDIATE` on the
    /// file; PostgreSQL: the counter rows every write takes), so writes wait
    /// until the blocker is released or dropped. Reads do not wait.
    pub fn block_writes(&self) -> WriteBlocker {
        if self.sqlite.is_none() {
            return WriteBlocker::Postgres(backend::postgres_block_writes(&self.db));
        }
        let connection = self.sql();
        connection
            .execute_batch("BEGIN IMMEDIATE")
            .expect("take the write lock");
        WriteBlocker::Sqlite(connection)
    }

    /// Records `metrics` as a snapshot through the RPC; what the server answered.
    pub async fn record_snapshot(
        &self,
        metrics: pb::PatternEntropyMetrics,
    ) -> pb::RecordPatternEntropyResponse {
        self.entropy()
            .record_pattern_entropy(pb::RecordPatternEntropyRequest {
                metrics: Some(metrics),
                request_id: String::new(),
            })
            .await
            .expect("record the snapshot")
            .into_inner()
    }

    /// The job's budget records (up to 1,000), newest first.
    pub async fn budget_history(&self, job: &str) -> Vec<pb::ExplorationBudgetRecord> {
        self.budget()
            .get_exploration_budget_history(pb::GetExplorationBudgetHistoryRequest {
                job_hash: Some(job.into()),
                limit: 1000,
                page_token: String::new(),
            })
            .await
            .expect("history")
            .into_inner()
            .records
    }

    /// The job's entropy responses (the default page), newest first.
    pub async fn response_history(&self, job: &str) -> Vec<pb::EntropyResponseRecord> {
        self.entropy()
            .get_entropy_response_history(pb::GetEntropyResponseHistoryRequest {
                job_hash: Some(job.into()),
                ..Default::default()
            })
            .await
            .expect("response history")
            .into_inner()
            .records
    }

    /// Patterns with the given application counts, recorded through the
    /// RPCs (so on either backend). Returns the pattern ids.
    pub async fn seed_applications(&self, counts: &[i64]) -> Vec<String> {
        let mut patterns = self.patterns();
        let mut ids = Vec::new();
        for (index, count) in counts.iter().enumerate() {
            let id = patterns
                .record_pattern(learning_service::pb::RecordPatternRequest {
                    pattern_type: "test".into(),
                    pattern_name: format!("pattern-{index}"),
                    ..Default::default()
                })
                .await
                .expect("record a pattern")
                .into_inner()
                .pattern
                .expect("the recorded pattern")
                .id;
            for application in 0..*count {
                patterns
                    .record_pattern_application(
                        learning_service::pb::RecordPatternApplicationRequest {
                            pattern_id: id.clone(),
                            execution_id: format!("exec-{index}-{application}"),
                            pattern_led_to_success: true,
                            request_id: String::new(),
                        },
                    )
                    .await
                    .expect("record an application");
            }
            ids.push(id);
        }
        ids
    }

    /// Stops the server and the store's writer.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.store.close(backend::CLOSE_GRACE);
    }
}

/// See [`TestServer::block_writes`].
pub enum WriteBlocker {
    Sqlite(rusqlite::Connection),
    Postgres(std::sync::mpsc::Sender<()>),
}

impl WriteBlocker {
    /// Ends the blocking transaction (SQLite commits it, PostgreSQL rolls it
    /// back: it wrote nothing either way).
    pub fn release(self) {
        match self {
            Self::Sqlite(connection) => connection.execute_batch("COMMIT").expect("release"),
            Self::Postgres(release) => drop(release),
        }
    }
}

/// Sends `authorization: Bearer <token>` with every call.
#[derive(Clone)]
pub struct BearerToken(pub MetadataValue<tonic::metadata::Ascii>);

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// `channel` with a bearer token on every call, e.g.
/// `BudgetServiceClient::new(with_token(channel, "secret"))`.
pub fn with_token(channel: Channel, token: &str) -> InterceptedService<Channel, BearerToken> {
    let value = format!("Bearer {token}").parse().expect("token metadata");
    InterceptedService::new(channel, BearerToken(value))
}

/// Health of `service` ("" for the whole server).
pub async fn health_status<T>(
    client: &mut tonic_health::pb::health_client::HealthClient<T>,
    service: &str,
) -> Result<tonic_health::pb::health_check_response::ServingStatus, Status>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let answer = client
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await?;
    Ok(answer.into_inner().status())
}

/// Polls until `service` reports `expected`, for at most `within`.
pub async fn wait_for_health(
    server: &TestServer,
    service: &str,
    expected: tonic_health::pb::health_check_response::ServingStatus,
    within: std::time::Duration,
) {
    let mut client = server.health();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let status = health_status(&mut client, service)
            .await
            .expect("health check");
        if status == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "health of {service:?} is {status:?}, not {expected:?}, after {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Asserts INVALID_ARGUMENT with a BadRequest violation naming `field`.
pub fn assert_invalid(status: &Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad_request = status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest detail in {status:?}"));
    let fields: Vec<&str> = bad_request
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, vec![field], "{status:?}");
    assert!(status.message().starts_with(field), "{}", status.message());
}

/// Waits until `condition` holds (polled), failing the test after 20 s.
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

pub fn approx(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < 5e-7,
        "expected {expected}, got {actual}"
    );
}

/// Inserts patterns with the given application counts, as the original's
/// runner would (direct SQL in its formats). Returns the pattern ids.
pub fn seed_applications(connection: &rusqlite::Connection, counts: &[i64]) -> Vec<String> {
    let mut ids = Vec::new();
    for (index, count) in counts.iter().enumerate() {
        let id = format!("00000000-0000-4000-8000-{index:012}");
        connection
            .execute(
                "INSERT INTO patterns (id, pattern_type, pattern_name, first_seen, last_seen) \
                 VALUES (?1, 'test', ?2, '2025-01-01T10:00:00', '2025-01-01T10:00:00')",
                rusqlite::params![id, format!("pattern-{index}")],
            )
            .expect("insert pattern");
        for application in 0..*count {
            connection
                .execute(
                    "INSERT INTO pattern_applications (id, pattern_id, execution_id, applied_at, \
                     pattern_led_to_success) VALUES (?1, ?2, 'exec', '2025-01-01T10:00:00', 1)",
                    rusqlite::params![format!("{id}-{application}"), id],
                )
                .expect("insert application");
        }
        ids.push(id);
    }
    ids
}
