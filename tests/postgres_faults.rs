//! Faults of the PostgreSQL backend: two replica processes (`serve --db
//! postgres://...`) over a private cluster that the test crashes and
//! restarts, or with one replica killed (SIGKILL), under write load. Every
//! acknowledged write is in the database afterwards; health follows the
//! database by itself; a stream cursor of a killed replica resumes on the
//! other. The cluster is the test's own (tests/support/private_postgres.rs),
//! never the suite's shared one. Without PostgreSQL installed these tests
//! say so and pass without running, except with `CI=true`, where they fail.

#[path = "support/prerequisite.rs"]
mod prerequisite;
#[path = "support/private_postgres.rs"]
mod private_postgres;
mod served;
#[allow(dead_code)]
#[path = "common/valid.rs"]
mod valid;

use std::{
    collections::HashSet,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use learning_service::pb::{
    self, budget_service_client::BudgetServiceClient, watch_exploration_budget_response::Event,
};
use private_postgres::PrivatePostgres;
use served::Served;
use tokio::{task::JoinHandle, time::timeout};
use tonic::{Code, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const WAIT: Duration = Duration::from_secs(30);
const WRITERS_PER_REPLICA: usize = 4;

fn channel(replica: &Served) -> Channel {
    Channel::from_shared(format!("http://{}", replica.address))
        .expect("uri")
        .connect_lazy()
}

/// Two replicas over the cluster, probing the store every 100 ms.
async fn two_replicas(cluster: &PrivatePostgres) -> (Served, Served) {
    let url = cluster.url();
    let args = ["--health-check-interval", "100ms"];
    let a = Served::start_on(Path::new(&url), &args, &[]).await;
    let b = Served::start_on(Path::new(&url), &args, &[]).await;
    (a, b)
}

fn a_write(job: &str) -> pb::UpdateExplorationBudgetRequest {
    pb::UpdateExplorationBudgetRequest {
        job_hash: job.into(),
        ..valid::update()
    }
}

/// Writers that keep writing until stopped, whatever fails meanwhile.
struct Load {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<AtomicUsize>,
    writers: Vec<JoinHandle<(Vec<String>, usize)>>,
}

/// What a load left: the ids of acknowledged writes, and how many calls failed.
struct Written {
    acknowledged: Vec<String>,
    failed: usize,
}

impl Load {
    fn start(replicas: &[&Served]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(AtomicUsize::new(0));
        let mut writers = Vec::new();
        for (r, replica) in replicas.iter().enumerate() {
            for w in 0..WRITERS_PER_REPLICA {
                let mut client = BudgetServiceClient::new(channel(replica));
                let (stop, count) = (stop.clone(), acknowledged.clone());
                let job = format!("load-{r}-{w}");
                writers.push(tokio::spawn(async move {
                    let (mut ids, mut failed) = (Vec::new(), 0);
                    while !stop.load(Ordering::Relaxed) {
                        let mut request = tonic::Request::new(a_write(&job));
                        request.set_timeout(Duration::from_secs(5));
                        match client.update_exploration_budget(request).await {
                            Ok(answer) => {
                                ids.push(answer.into_inner().record.expect("record").id);
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => {
                                failed += 1;
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    }
                    (ids, failed)
                }));
            }
        }
        Self {
            stop,
            acknowledged,
            writers,
        }
    }

    fn count(&self) -> usize {
        self.acknowledged.load(Ordering::Relaxed)
    }

    /// Waits until `more` further writes were acknowledged.
    async fn wait_for(&self, more: usize, what: &str) {
        let target = self.count() + more;
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.count() < target {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: {} of {target} writes acknowledged",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn finish(self) -> Written {
        self.stop.store(true, Ordering::Relaxed);
        let mut written = Written {
            acknowledged: Vec::new(),
            failed: 0,
        };
        for writer in self.writers {
            let (ids, failed) = writer.await.expect("writer");
            written.acknowledged.extend(ids);
            written.failed += failed;
        }
        written
    }
}

/// Every acknowledged write is stored once; nothing is stored that was
/// neither acknowledged nor answered with an error.
async fn assert_kept(cluster: &PrivatePostgres, written: &Written) {
    let stored = cluster.texts("SELECT id FROM exploration_budget").await;
    eprintln!(
        "{} writes acknowledged, {} failed, {} stored",
        written.acknowledged.len(),
        written.failed,
        stored.len()
    );
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "a record stored twice");
    let lost: Vec<&String> = written
        .acknowledged
        .iter()
        .filter(|id| !unique.contains(id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost: {lost:?}",
        lost.len(),
        written.acknowledged.len()
    );
    assert!(
        stored.len() <= written.acknowledged.len() + written.failed,
        "{} stored, {} acknowledged, {} failed",
        stored.len(),
        written.acknowledged.len(),
        written.failed
    );
}

async fn health(replica: &Served) -> Option<ServingStatus> {
    let mut client = HealthClient::new(channel(replica));
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    request.set_timeout(Duration::from_secs(2));
    let answer = client.check(request).await.ok()?;
    Some(answer.into_inner().status())
}

async fn wait_for_health(replica: &Served, expected: ServingStatus, name: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = health(replica).await;
        if status == Some(expected) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replica {name}: health {status:?}, not {expected:?}, after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A crash and restart of the database under write load on both replicas:
/// both go NOT_SERVING while it is down and answer writes UNAVAILABLE (in
/// words, without PostgreSQL's text), and both are SERVING and writing
/// again after it is back, with nobody restarting them; nothing
/// acknowledged is lost, and the statistics counters match the rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_under_load_loses_no_acknowledged_write_and_both_replicas_recover() {
    let Some(cluster) = PrivatePostgres::start() else {
        return;
    };
    let (a, b) = two_replicas(&cluster).await;
    for (replica, name) in [(&a, "A"), (&b, "B")] {
        wait_for_health(replica, ServingStatus::Serving, name).await;
    }
    let load = Load::start(&[&a, &b]);
    load.wait_for(100, "before the crash").await;

    cluster.crash();
    for (replica, name) in [(&a, "A"), (&b, "B")] {
        wait_for_health(replica, ServingStatus::NotServing, name).await;
        let refused = BudgetServiceClient::new(channel(replica))
            .update_exploration_budget(a_write("while-down"))
            .await
            .expect_err("a write while the database is down");
        assert_eq!(refused.code(), Code::Unavailable, "{name}: {refused:?}");
        assert!(
            !refused.message().contains("SQLSTATE") && !refused.message().contains("postgres"),
            "{name}: the database's own text reached the client: {refused:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    cluster.start_server();
    for (replica, name) in [(&a, "A"), (&b, "B")] {
        wait_for_health(replica, ServingStatus::Serving, name).await;
        BudgetServiceClient::new(channel(replica))
            .update_exploration_budget(a_write(&format!("after-{name}")))
            .await
            .unwrap_or_else(|e| panic!("replica {name} writes again: {e:?}"));
    }
    load.wait_for(100, "after the restart").await;
    let written = load.finish().await;
    assert!(written.failed > 0, "the load never met the crash");
    assert_kept(&cluster, &written).await;

    let rows = cluster
        .texts("SELECT COUNT(*)::TEXT FROM exploration_budget")
        .await;
    let statistics = BudgetServiceClient::new(channel(&b))
        .get_exploration_budget_statistics(pb::GetExplorationBudgetStatisticsRequest::default())
        .await
        .expect("statistics")
        .into_inner();
    assert_eq!(statistics.total_adjustments.to_string(), rows[0]);
    a.stop().await;
    b.stop().await;
}

/// (record id, cursor) pairs in stream order, filled by a reader task.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// Records a stream delivers, with their cursors, until it ends.
fn collect(
    mut stream: tonic::Streaming<pb::WatchExplorationBudgetResponse>,
) -> (Received, JoinHandle<()>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let into = received.clone();
    let task = tokio::spawn(async move {
        while let Ok(Some(message)) = stream.message().await {
            if let Some(Event::Record(record)) = message.event {
                into.lock()
                    .expect("records")
                    .push((record.id, message.cursor));
            }
        }
    });
    (received, task)
}

/// kill -9 of one of two replicas under write load: nothing acknowledged is
/// lost, and a subscriber of the killed replica resumes on the other with
/// its last cursor, receiving every record once, in commit order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_replica_under_load_loses_nothing_and_its_cursor_resumes_on_the_other() {
    let Some(cluster) = PrivatePostgres::start() else {
        return;
    };
    let (a, b) = two_replicas(&cluster).await;
    let mut watch = BudgetServiceClient::new(channel(&a))
        .watch_exploration_budget(pb::WatchExplorationBudgetRequest::default())
        .await
        .expect("watch on A")
        .into_inner();
    // The stream is live before anything is written.
    loop {
        let message = timeout(WAIT, watch.message()).await.expect("in time");
        let message = message.expect("no error").expect("stream open");
        if matches!(message.event, Some(Event::CaughtUp(_))) {
            break;
        }
    }
    let (on_a, reader) = collect(watch);

    let load = Load::start(&[&a, &b]);
    load.wait_for(150, "before the kill").await;
    a.kill().await;
    reader.await.expect("reader");
    load.wait_for(150, "on B after the kill").await;
    let written = load.finish().await;
    assert_kept(&cluster, &written).await;

    let on_a = on_a.lock().expect("records").clone();
    let (_, cursor) = on_a
        .last()
        .cloned()
        .expect("A streamed records before it died");
    let mut resumed = BudgetServiceClient::new(channel(&b))
        .watch_exploration_budget(pb::WatchExplorationBudgetRequest {
            after_cursor: cursor,
            ..Default::default()
        })
        .await
        .expect("A's cursor is valid on B")
        .into_inner();
    let mut on_b = Vec::new();
    loop {
        let message = timeout(WAIT, resumed.message()).await.expect("in time");
        let message = message.expect("no error").expect("stream open");
        match message.event {
            Some(Event::Record(record)) => on_b.push(record.id),
            Some(Event::CaughtUp(_)) => break,
            _ => {}
        }
    }
    let streamed: Vec<String> = on_a.into_iter().map(|(id, _)| id).chain(on_b).collect();
    let committed = cluster
        .texts("SELECT id FROM exploration_budget ORDER BY pos")
        .await;
    assert_eq!(
        streamed.len(),
        committed.len(),
        "every record streamed once"
    );
    assert!(streamed == committed, "the records in commit order");
    b.stop().await;
}
