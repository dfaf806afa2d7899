//! Hostile clients against a running server, measuring its memory (VmRSS and
//! VmHWM from /proc/<pid>/status) before and after, and whether health still
//! answers. Run by bench/hostile.sh.
//!
//! - `stalled-watches`: N WatchExplorationBudget streams with a backfill,
//!   over budget records with long reasons, whose client never reads (HTTP/2
//!   windows of 64 KiB, the protocol's default, never replenished).
//! - `idle-streams`: C connections each opening S calls that never send
//!   their request body.
//! - `idle-connections`: N TCP connections that never send a byte.

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use learning_service::{
    api::codec::LearningCodec,
    pb::{self, budget_service_client::BudgetServiceClient},
};
use tokio::{io::AsyncReadExt, net::TcpStream};
use tonic::{Code, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

#[derive(Parser)]
struct Args {
    /// Server address (http://host:port).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    server: String,
    /// PID of the server process, to read its memory.
    #[arg(long)]
    server_pid: u32,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    StalledWatches {
        #[arg(long, default_value_t = 2048)]
        watches: usize,
        #[arg(long, default_value_t = 1000)]
        backfill: i32,
        /// Budget records written first (each with a reason of --reason-bytes).
        #[arg(long, default_value_t = 1000)]
        records: usize,
        #[arg(long, default_value_t = 4000)]
        reason_bytes: usize,
        /// Streams per HTTP/2 connection (the server allows 200).
        #[arg(long, default_value_t = 100)]
        per_connection: usize,
    },
    IdleStreams {
        #[arg(long, default_value_t = 500)]
        connections: usize,
        #[arg(long, default_value_t = 201)]
        streams: usize,
    },
    IdleConnections {
        #[arg(long, default_value_t = 2000)]
        count: usize,
        /// How long to wait for the server to close them.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        wait: Duration,
    },
}

/// VmRSS and VmHWM of `pid`, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Open file descriptors of `pid`.
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

/// The server's RSS once it has stopped moving (three samples 0.5 s apart
/// within 1%), or after 30 s.
async fn settled_rss(pid: u32) -> u64 {
    let mut samples = vec![memory_kib(pid).0];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        samples.push(memory_kib(pid).0);
        if let [.., a, b, c] = samples[..] {
            let (low, high) = (a.min(b).min(c), a.max(b).max(c));
            if high - low <= high / 100 {
                return c;
            }
        }
    }
    *samples.last().unwrap_or(&0)
}

async fn health_latency(server: &str) -> Result<Duration, String> {
    let started = Instant::now();
    let channel = Channel::from_shared(server.to_owned())
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map_err(|e| format!("check: {e}"))?;
    Ok(started.elapsed())
}

fn report_memory(label: &str, before: u64, after: u64, hwm: u64, count: usize) {
    let grown = after.saturating_sub(before);
    println!(
        "{label}: server RSS {before} KiB before, {after} KiB after (+{:.1} MiB, {:.1} KiB each); peak {hwm} KiB",
        grown as f64 / 1024.0,
        grown as f64 / count.max(1) as f64
    );
}

/// A connection opened before the attack, for health checks on it.
async fn health_channel(server: &str) -> Result<HealthClient<Channel>, Box<dyn std::error::Error>> {
    let channel = Channel::from_shared(server.to_owned())?
        .timeout(Duration::from_secs(5))
        .connect()
        .await?;
    Ok(HealthClient::new(channel))
}

async fn existing_health_line(client: &mut HealthClient<Channel>) {
    let started = Instant::now();
    match client.check(HealthCheckRequest::default()).await {
        Ok(_) => println!(
            "health on a connection opened before: answered in {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        ),
        Err(status) => println!("health on a connection opened before: FAILED ({status})"),
    }
}

async fn health_line(server: &str) {
    match health_latency(server).await {
        Ok(took) => println!(
            "health on a new connection: answered in {:.1} ms",
            took.as_secs_f64() * 1000.0
        ),
        Err(error) => println!("health on a new connection: FAILED ({error})"),
    }
}

/// A connection with HTTP/2's default 64 KiB windows; the client's own reads
/// of frames never enlarge them while nothing is consumed.
async fn small_window_channel(server: &str) -> Result<Channel, Box<dyn std::error::Error>> {
    Ok(Channel::from_shared(server.to_owned())?
        .initial_stream_window_size(Some(65_535))
        .initial_connection_window_size(Some(65_535))
        .connect()
        .await?)
}

async fn stalled_watches(
    args: &Args,
    watches: usize,
    backfill: i32,
    records: usize,
    reason_bytes: usize,
    per_connection: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let writer = Channel::from_shared(args.server.clone())?.connect().await?;
    let mut budget = BudgetServiceClient::new(writer.clone());
    let reason = "r".repeat(reason_bytes);
    for i in 0..records {
        budget
            .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
                job_hash: format!("job-{}", i % 10),
                budget_value: 0.2,
                adjustment_type: pb::AdjustmentType::Boost as i32,
                adjustment_reason: Some(reason.clone()),
                ..Default::default()
            })
            .await?;
    }
    let mut health = health_channel(&args.server).await?;
    let before = settled_rss(args.server_pid).await;

    let connections = watches.div_ceil(per_connection.max(1));
    let mut channels = Vec::new();
    for _ in 0..connections {
        channels.push(small_window_channel(&args.server).await?);
    }
    let mut streams = Vec::new();
    let mut refused = 0;
    for index in 0..watches {
        let mut client = BudgetServiceClient::new(channels[index % connections].clone());
        match client
            .watch_exploration_budget(pb::WatchExplorationBudgetRequest {
                backfill: Some(backfill),
                ..Default::default()
            })
            .await
        {
            // Held and never read.
            Ok(stream) => streams.push(stream),
            Err(_) => refused += 1,
        }
    }
    let after = settled_rss(args.server_pid).await;
    let (_, hwm) = memory_kib(args.server_pid);
    println!(
        "stalled watches: {} open, {refused} refused, backfill {backfill}, {records} records with {reason_bytes}-byte reasons, {connections} connections",
        streams.len()
    );
    report_memory("stalled watches", before, after, hwm, streams.len());
    existing_health_line(&mut health).await;
    health_line(&args.server).await;

    // The guarantees still hold for a reader: the whole backfill, in order.
    let mut reader = BudgetServiceClient::new(writer)
        .watch_exploration_budget(pb::WatchExplorationBudgetRequest {
            backfill: Some(backfill),
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut received = 0;
    loop {
        use pb::watch_exploration_budget_response::Event;
        match reader.message().await?.and_then(|m| m.event) {
            Some(Event::Record(_)) => received += 1,
            Some(Event::CaughtUp(_)) => break,
            _ => {}
        }
    }
    println!("a reading watch alongside: {received} records, then caught_up");
    drop(streams);
    Ok(())
}

/// One call whose request body never comes.
async fn silent_call(channel: Channel) -> Code {
    {
        let mut grpc = tonic::client::Grpc::new(channel);
        if grpc.ready().await.is_err() {
            return Code::Unavailable;
        }
        let path =
            http::uri::PathAndQuery::from_static("/learning.v1.BudgetService/GetExplorationBudget");
        let body = tokio_stream::pending::<pb::GetExplorationBudgetRequest>();
        let answer: Result<tonic::Response<pb::GetExplorationBudgetResponse>, _> =
            grpc
                .client_streaming(
                    tonic::Request::new(body),
                    path,
                    LearningCodec::<
                        pb::GetExplorationBudgetRequest,
                        pb::GetExplorationBudgetResponse,
                    >::default(),
                )
                .await;
        match answer {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        }
    }
}

async fn idle_streams(
    args: &Args,
    connections: usize,
    streams: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut health = health_channel(&args.server).await?;
    let before = settled_rss(args.server_pid).await;
    let mut channels = Vec::new();
    for _ in 0..connections {
        channels.push(Channel::from_shared(args.server.clone())?.connect().await?);
    }
    let mut calls = tokio::task::JoinSet::new();
    for channel in &channels {
        for _ in 0..streams {
            calls.spawn(silent_call(channel.clone()));
        }
    }
    let after = settled_rss(args.server_pid).await;
    let (_, hwm) = memory_kib(args.server_pid);
    println!("idle streams: {connections} connections x {streams} calls that never send a body");
    report_memory("idle streams", before, after, hwm, connections * streams);
    existing_health_line(&mut health).await;
    health_line(&args.server).await;
    let waiting = Instant::now();
    let mut codes = std::collections::BTreeMap::new();
    while let Ok(Some(code)) =
        tokio::time::timeout(Duration::from_secs(60), calls.join_next()).await
    {
        *codes.entry(format!("{:?}", code?)).or_insert(0) += 1;
    }
    println!(
        "answers within {:.0} s: {codes:?}; unanswered after 60 s of quiet: {}",
        waiting.elapsed().as_secs_f64(),
        calls.len()
    );
    Ok(())
}

async fn idle_connections(
    args: &Args,
    count: usize,
    wait: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut health = health_channel(&args.server).await?;
    let before = settled_rss(args.server_pid).await;
    let address = args
        .server
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    // All at once, each given 5 s: a server whose backlog is full leaves a
    // connect hanging for minutes.
    let mut connects = tokio::task::JoinSet::new();
    for _ in 0..count {
        let address = address.clone();
        connects.spawn(async move {
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(address)).await
        });
    }
    let mut sockets = Vec::new();
    let mut failed = 0;
    while let Some(connected) = connects.join_next().await {
        match connected? {
            Ok(Ok(socket)) => sockets.push(socket),
            _ => failed += 1,
        }
    }
    let after = settled_rss(args.server_pid).await;
    let (_, hwm) = memory_kib(args.server_pid);
    println!(
        "idle connections: {} connected, {failed} failed to connect within 5 s, none sends a byte",
        sockets.len()
    );
    report_memory("idle connections", before, after, hwm, sockets.len());
    println!("server open files: {}", open_files(args.server_pid));
    existing_health_line(&mut health).await;
    health_line(&args.server).await;
    let started = Instant::now();
    let mut closed = 0;
    let mut readers = tokio::task::JoinSet::new();
    for mut socket in sockets {
        readers.spawn(async move {
            // Whatever the server sends (its HTTP/2 SETTINGS) until EOF or a
            // reset: the server closed it.
            let mut buffer = [0u8; 256];
            tokio::time::timeout(wait, async {
                while let Ok(n) = socket.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                }
            })
            .await
            .is_ok()
        });
    }
    while let Some(was_closed) = readers.join_next().await {
        closed += usize::from(was_closed?);
    }
    // A connection that is neither closed nor open in the server was never
    // accepted: the kernel's accept queue overflowed during the burst, and
    // the client's end stays "connected" to nothing.
    println!(
        "closed by the server within {:.1} s: {closed}; server open files then: {}",
        started.elapsed().as_secs_f64().min(wait.as_secs_f64()),
        open_files(args.server_pid)
    );
    health_line(&args.server).await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    match args.scenario {
        Scenario::StalledWatches {
            watches,
            backfill,
            records,
            reason_bytes,
            per_connection,
        } => {
            stalled_watches(
                &args,
                watches,
                backfill,
                records,
                reason_bytes,
                per_connection,
            )
            .await
        }
        Scenario::IdleStreams {
            connections,
            streams,
        } => idle_streams(&args, connections, streams).await,
        Scenario::IdleConnections { count, wait } => idle_connections(&args, count, wait).await,
    }
}
