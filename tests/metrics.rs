//! `/metrics` over a real HTTP client, parsed as the Prometheus text format,
//! after known calls to a server process of its own (fresh counters).

mod common;
mod served;

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use learning_service::pb::{
    self, budget_service_client::BudgetServiceClient, entropy_service_client::EntropyServiceClient,
};
use prometheus_parse::{Sample, Scrape, Value};
use served::{Served, WAIT};
use tonic::{Code, transport::Channel};
use tonic_prost::ProstCodec;

struct Http {
    status: u16,
    content_type: String,
    body: String,
}

async fn get(address: &str, path: &str) -> Http {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let uri = format!("http://{address}{path}").parse().expect("uri");
    let response = client.get(uri).await.expect("HTTP GET");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().expect("ascii").to_owned())
        .unwrap_or_default();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Http {
        status,
        content_type,
        body: String::from_utf8(body.to_vec()).expect("utf-8"),
    }
}

struct Metrics(Vec<Sample>);

async fn scrape(served: &Served) -> Metrics {
    let answer = get(
        served.metrics_address.as_deref().expect("metrics"),
        "/metrics",
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.content_type,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let lines = answer.body.lines().map(|l| Ok(l.to_owned()));
    Metrics(
        Scrape::parse(lines)
            .expect("Prometheus text format")
            .samples,
    )
}

impl Metrics {
    /// The one sample of `name` whose labels include `labels`.
    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Sample> {
        let mut found = self
            .0
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)));
        let first = found.next();
        assert!(
            found.next().is_none(),
            "{name} {labels:?} is not one series"
        );
        first
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.find(name, labels).map(|s| &s.value) {
            Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
            other => panic!("{name} {labels:?}: {other:?}"),
        }
    }

    /// A histogram's count (its +Inf bucket) and its buckets.
    fn histogram_count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let Some(Value::Histogram(buckets)) = self.find(name, labels).map(|s| &s.value) else {
            panic!("{name} {labels:?} is not a histogram");
        };
        assert!(buckets.len() > 5, "explicit buckets: {buckets:?}");
        assert!(
            buckets.windows(2).all(|w| w[0].count <= w[1].count),
            "cumulative: {buckets:?}"
        );
        buckets
            .iter()
            .find(|b| b.less_than == f64::INFINITY)
            .expect("+Inf bucket")
            .count
    }
}

fn method<'a>(service: &'a str, name: &'a str, kind: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("grpc_service", service),
        ("grpc_method", name),
        ("grpc_type", kind),
    ]
}

fn with_code<'a>(labels: [(&'a str, &'a str); 3], code: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut labels = labels.to_vec();
    labels.push(("grpc_code", code));
    labels
}

const BUDGET: &str = "learning.v1.BudgetService";

/// Polls until `done` holds for a scrape (the server counts a stream's end
/// once it has seen the client go).
async fn scrape_until(served: &Served, done: impl Fn(&Metrics) -> bool) -> Metrics {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let metrics = scrape(served).await;
        if done(&metrics) {
            return metrics;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not reached in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn unary_calls_are_counted_with_their_codes_and_durations() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path(), &["--metrics-listen", "127.0.0.1:0"], &[]).await;
    let channel = served.channel().await;
    let mut budget = BudgetServiceClient::new(channel.clone());
    for value in [0.1, 0.2, 0.3] {
        let request = pb::UpdateExplorationBudgetRequest {
            budget_value: value,
            ..common::valid::update()
        };
        budget.update_exploration_budget(request).await.unwrap();
    }
    for _ in 0..2 {
        let invalid = pb::UpdateExplorationBudgetRequest {
            job_hash: String::new(),
            ..common::valid::update()
        };
        let status = budget.update_exploration_budget(invalid).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }
    budget
        .get_exploration_budget(pb::GetExplorationBudgetRequest::default())
        .await
        .unwrap();
    // A path the server does not serve: one label value, whatever the path.
    for path in ["/nope.Service/Method", "/learning.v1.BudgetService/Nope"] {
        let status = call_path(channel.clone(), path).await.unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented);
    }

    let metrics = scrape(&served).await;
    let update = method(BUDGET, "UpdateExplorationBudget", "unary");
    assert_eq!(metrics.value("grpc_server_started_total", &update), 5.0);
    let ok = metrics.value("grpc_server_handled_total", &with_code(update, "OK"));
    let invalid = with_code(update, "InvalidArgument");
    assert_eq!(ok, 3.0);
    assert_eq!(metrics.value("grpc_server_handled_total", &invalid), 2.0);
    assert_eq!(
        metrics.histogram_count("grpc_server_handling_seconds", &update),
        5.0
    );
    // Only the successful calls answered with a message.
    assert_eq!(metrics.value("grpc_server_msg_sent_total", &update), 3.0);

    let get = method(BUDGET, "GetExplorationBudget", "unary");
    assert_eq!(metrics.value("grpc_server_started_total", &get), 1.0);
    assert_eq!(
        metrics.value("grpc_server_handled_total", &with_code(get, "OK")),
        1.0
    );
    // Every served method has its started counter, at zero until called.
    let history = method(BUDGET, "GetExplorationBudgetHistory", "unary");
    assert_eq!(metrics.value("grpc_server_started_total", &history), 0.0);
    assert!(
        metrics
            .find("grpc_server_handled_total", &with_code(history, "OK"))
            .is_none()
    );

    let unknown = method("unknown", "unknown", "unknown");
    assert_eq!(metrics.value("grpc_server_started_total", &unknown), 2.0);
    assert_eq!(
        metrics.value(
            "grpc_server_handled_total",
            &with_code(unknown, "Unimplemented")
        ),
        2.0
    );
    served.stop().await;
}

/// A unary call of `path` with an empty message.
async fn call_path(channel: Channel, path: &'static str) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let codec = ProstCodec::<(), ()>::default();
    let path = http::uri::PathAndQuery::from_static(path);
    grpc.unary(tonic::Request::new(()), path, codec)
        .await
        .map(drop)
}

#[tokio::test]
async fn a_stream_is_counted_by_its_final_code_from_the_trailers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    seed_budget_rows(&db, 2000);
    let served = Served::start(dir.path(), &["--metrics-listen", "127.0.0.1:0"], &[]).await;
    // HTTP/2's smallest windows (hyper's client asks for 2 MiB): the server
    // can send only a few of these large records ahead of the reader.
    let channel = Channel::from_shared(format!("http://{}", served.address))
        .unwrap()
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .unwrap();
    let mut budget = BudgetServiceClient::new(channel);
    let watch = method(BUDGET, "WatchExplorationBudget", "server_stream");

    // Refused before it starts: a trailers-only answer.
    let bad_cursor = pb::WatchExplorationBudgetRequest {
        after_cursor: "not-a-cursor".into(),
        ..Default::default()
    };
    let status = budget
        .watch_exploration_budget(bad_cursor)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    // Open, 3 records and the caught-up marker, then the client leaves.
    let live = pb::WatchExplorationBudgetRequest {
        backfill: Some(3),
        ..Default::default()
    };
    let mut stream = budget
        .watch_exploration_budget(live)
        .await
        .unwrap()
        .into_inner();
    for _ in 0..4 {
        stream.message().await.unwrap().expect("a message");
    }
    let open = scrape(&served).await;
    assert_eq!(open.value("learning_stream_subscribers", &watch[..2]), 1.0);
    drop(stream);
    scrape_until(&served, |m| {
        m.find("grpc_server_handled_total", &with_code(watch, "Canceled"))
            .is_some()
    })
    .await;

    // Behind the in-memory tail (the rows predate the server), the stream
    // reads from the file in pages; the rows after what it has read are
    // pruned by another program meanwhile, so it ends OUT_OF_RANGE after its
    // messages, each counted as sent.
    let from_the_start = pb::WatchExplorationBudgetRequest {
        after_cursor: cursor(0),
        ..Default::default()
    };
    let mut stream = budget
        .watch_exploration_budget(from_the_start)
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().expect("the first record");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM exploration_budget WHERE rowid <= 1500", [])
        .unwrap();
    let mut received = 1;
    let end = loop {
        match stream.message().await {
            Ok(Some(_)) => received += 1,
            Ok(None) => panic!("a stream never ends with OK"),
            Err(status) => break status,
        }
    };
    assert_eq!(end.code(), Code::OutOfRange, "{end:?}");
    // What the stream had read before the delete (its pages grow while the
    // client keeps up), and nothing after it.
    assert!((1..1500).contains(&received), "{received} records");

    let metrics = scrape_until(&served, |m| {
        m.find("grpc_server_handled_total", &with_code(watch, "OutOfRange"))
            .is_some()
    })
    .await;
    assert_eq!(metrics.value("grpc_server_started_total", &watch), 3.0);
    for code in ["InvalidArgument", "Canceled", "OutOfRange"] {
        let labels = with_code(watch, code);
        assert_eq!(
            metrics.value("grpc_server_handled_total", &labels),
            1.0,
            "{code}"
        );
    }
    assert_eq!(
        metrics.value("grpc_server_msg_sent_total", &watch),
        4.0 + received as f64
    );
    assert_eq!(
        metrics.histogram_count("grpc_server_handling_seconds", &watch),
        3.0
    );
    assert_eq!(
        metrics.value("learning_stream_subscribers", &watch[..2]),
        0.0
    );
    served.stop().await;
}

fn cursor(position: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1|budget|{position}"))
}

/// Budget rows with long reasons, so that few fit in the connection's flow
/// control window: the stream's producer stays inside its first batch.
fn seed_budget_rows(db: &std::path::Path, count: usize) {
    learning_service::store::sqlite::SqliteStore::open(db, Default::default())
        .expect("create the schema");
    let mut connection = rusqlite::Connection::open(db).unwrap();
    let transaction = connection.transaction().unwrap();
    let reason = "r".repeat(4000);
    for row in 0..count {
        transaction
            .execute(
                "INSERT INTO exploration_budget (id, job_hash, recorded_at, budget_value, \
                 adjustment_type, adjustment_reason) \
                 VALUES (?1, 'seeded', '2025-01-01T10:00:00', 0.2, 'boost', ?2)",
                rusqlite::params![format!("seed-{row}"), reason],
            )
            .unwrap();
    }
    transaction.commit().unwrap();
}

#[tokio::test]
async fn the_store_and_the_domain_are_exported_and_other_paths_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--metrics-listen",
        "127.0.0.1:0",
        "--metrics-budget-jobs",
        "job-a,job-never-seen",
        "--read-connections",
        "3",
    ];
    let served = Served::start(dir.path(), &args, &[]).await;
    let channel = served.channel().await;
    let address = served.metrics_address.clone().unwrap();
    for path in ["/", "/metrics/", "/health", "/favicon.ico"] {
        assert_eq!(get(&address, path).await.status, 404, "{path}");
    }

    let before = scrape(&served).await;
    assert!(
        before
            .find("learning_entropy_diversity_index", &[])
            .is_none()
    );
    assert_eq!(
        before.value("learning_entropy_responses_recorded", &[]),
        0.0
    );

    let mut budget = BudgetServiceClient::new(channel.clone());
    for value in [0.2, 0.9] {
        let request = pb::UpdateExplorationBudgetRequest {
            job_hash: "job-a".into(),
            budget_value: value,
            ..common::valid::update()
        };
        budget.update_exploration_budget(request).await.unwrap();
    }
    // Applications recorded by another program sharing the file.
    common::seed_applications(&rusqlite::Connection::open(&served.db).unwrap(), &[3, 1]);
    let mut entropy = EntropyServiceClient::new(channel);
    let older = pb::RecordPatternEntropyRequest {
        metrics: Some(common::valid::metrics()),
        ..Default::default()
    };
    entropy.record_pattern_entropy(older).await.unwrap();
    let current = entropy
        .calculate_pattern_entropy(pb::CalculatePatternEntropyRequest::default())
        .await
        .unwrap()
        .into_inner()
        .metrics
        .unwrap();
    let recorded = entropy
        .record_pattern_entropy(pb::RecordPatternEntropyRequest {
            metrics: Some(current),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .metrics
        .unwrap();
    for job in ["job-a", "job-b"] {
        entropy
            .trigger_entropy_response(pb::TriggerEntropyResponseRequest {
                trigger: Some(pb::EntropyTriggerContext {
                    job_hash: job.into(),
                    ..common::valid::trigger_context()
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let latest_a = budget
        .get_exploration_budget(pb::GetExplorationBudgetRequest {
            job_hash: Some("job-a".into()),
        })
        .await
        .unwrap()
        .into_inner()
        .budget
        .unwrap();

    let metrics = scrape(&served).await;
    assert!((recorded.diversity_index - 0.811_278).abs() < 1e-6);
    assert_eq!(
        metrics.value("learning_entropy_diversity_index", &[]),
        recorded.diversity_index
    );
    assert_eq!(
        metrics.value("learning_entropy_responses_recorded", &[]),
        2.0
    );
    let job_a = [("job_hash", "job-a")];
    assert_eq!(
        metrics.value("learning_budget_current", &job_a),
        latest_a.budget_value
    );
    let never = [("job_hash", "job-never-seen")];
    assert!(metrics.find("learning_budget_current", &never).is_none());
    assert!(
        metrics
            .find("learning_budget_current", &[("job_hash", "job-b")])
            .is_none(),
        "only the jobs named by the flag"
    );

    // 2 budget updates, 2 snapshots, 2 triggers: 6 writes of this process,
    // committed in as many batches or fewer.
    let batches = metrics.histogram_count("learning_store_write_batch_size", &[]);
    let commits = metrics.histogram_count("learning_store_commit_duration_seconds", &[]);
    assert_eq!(batches, commits);
    assert!((1.0..=6.0).contains(&batches), "{batches}");
    let operations = metrics.value("learning_store_write_batch_size_sum", &[]);
    assert_eq!(operations, 6.0);
    assert_eq!(metrics.value("learning_store_write_queue_depth", &[]), 0.0);
    assert_eq!(metrics.value("learning_store_read_queue_depth", &[]), 0.0);
    assert_eq!(metrics.value("learning_store_read_connections", &[]), 3.0);
    assert_eq!(
        metrics.value("learning_store_read_connections_in_use", &[]),
        0.0
    );
    let database = metrics.value("learning_store_database_bytes", &[]);
    assert!(database >= 4096.0 && database % 4096.0 == 0.0, "{database}");
    let wal = metrics.value("learning_store_wal_bytes", &[]);
    assert!(wal > 0.0, "the WAL holds the commits: {wal}");

    let version = [
        ("version", env!("CARGO_PKG_VERSION")),
        ("backend", "sqlite"),
    ];
    assert_eq!(metrics.value("learning_service_build_info", &version), 1.0);
    served.stop().await;
}

/// Retention's deletions are counted per history, from zero.
#[tokio::test]
async fn rows_deleted_by_retention_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    // 2025-01-01 rows, older than 30 days; the job's latest one always stays.
    seed_budget_rows(&dir.path().join("learning.db"), 40);
    let args = [
        "--metrics-listen",
        "127.0.0.1:0",
        "--retain-days",
        "30",
        "--retention-interval",
        "100ms",
    ];
    let served = Served::start(dir.path(), &args, &[]).await;
    let budget = [("history", "budget")];
    let metrics = scrape_until(&served, |m| {
        m.find(RETENTION_DELETED, &budget)
            .is_some_and(|_| m.value(RETENTION_DELETED, &budget) >= 39.0)
    })
    .await;
    assert_eq!(metrics.value(RETENTION_DELETED, &budget), 39.0);
    for history in ["responses", "snapshots"] {
        assert_eq!(
            metrics.value(RETENTION_DELETED, &[("history", history)]),
            0.0
        );
    }
    let left: i64 = rusqlite::Connection::open(&served.db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM exploration_budget", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 1);
    served.stop().await;
}

const RETENTION_DELETED: &str = "learning_retention_deleted_rows_total";

/// A streamed record is converted and encoded once, however many streams
/// send it: 20 subscribers, 3 of them filtered, 5 snapshots (2 above the
/// threshold) make 5 encodings and 20 x 5 + 3 x 2 + 23 caught-up markers
/// sent; the old server encoded each record once per subscriber.
#[tokio::test]
async fn a_streamed_record_is_encoded_once_for_all_its_subscribers() {
    use pb::subscribe_pattern_entropy_response::Event;
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path(), &["--metrics-listen", "127.0.0.1:0"], &[]).await;
    let channel = served.channel().await;
    let mut entropy = EntropyServiceClient::new(channel);
    let mut streams = Vec::new();
    for subscriber in 0..23 {
        let request = pb::SubscribePatternEntropyRequest {
            threshold_exceeded_only: subscriber >= 20,
            ..Default::default()
        };
        let mut stream = entropy
            .subscribe_pattern_entropy(request)
            .await
            .unwrap()
            .into_inner();
        let first = stream.message().await.unwrap().expect("caught up");
        assert!(matches!(first.event, Some(Event::CaughtUp(_))));
        streams.push(stream);
    }
    let mut ids = Vec::new();
    for i in 0..5 {
        let metrics = pb::PatternEntropyMetrics {
            threshold_exceeded: i % 2 == 1,
            ..common::valid::metrics()
        };
        let request = pb::RecordPatternEntropyRequest {
            metrics: Some(metrics),
            request_id: String::new(),
        };
        let recorded = entropy.record_pattern_entropy(request).await.unwrap();
        ids.push((recorded.into_inner().id, i % 2 == 1));
    }
    for (subscriber, stream) in streams.iter_mut().enumerate() {
        let filtered = subscriber >= 20;
        let expected: Vec<&String> = ids
            .iter()
            .filter(|(_, exceeded)| !filtered || *exceeded)
            .map(|(id, _)| id)
            .collect();
        let mut got = Vec::new();
        while got.len() < expected.len() {
            let message = tokio::time::timeout(WAIT, stream.message()).await;
            if let Some(Event::Snapshot(snapshot)) = message.unwrap().unwrap().unwrap().event {
                got.push(snapshot.id);
            }
        }
        assert_eq!(got.iter().collect::<Vec<_>>(), expected, "{subscriber}");
    }
    let subscribe = method(
        "learning.v1.EntropyService",
        "SubscribePatternEntropy",
        "server_stream",
    );
    let metrics = scrape(&served).await;
    assert_eq!(
        metrics.value("grpc_server_msg_sent_total", &subscribe),
        (20 * 5 + 3 * 2 + 23) as f64
    );
    assert_eq!(
        metrics.value(
            "learning_stream_messages_encoded_total",
            &[("table", "snapshots")]
        ),
        5.0
    );
    served.stop().await;
}
