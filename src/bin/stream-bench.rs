//! Benchmark of the entropy stream: N concurrent subscribers on one server,
//! M snapshots recorded one after another. Checks that every subscriber
//! receives every snapshot, in order, and reports the latency from the
//! return of the RecordPatternEntropy call to the receipt by each subscriber,
//! and the server's memory per subscriber (from /proc/<pid>/status).
//! Each snapshot carries its sequence number (in total_applications), so a
//! receipt is 24 bytes: 10,000 subscribers x 200 snapshots fit the client.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use learning_service::pb::{
    self, entropy_service_client::EntropyServiceClient, subscribe_pattern_entropy_response::Event,
};
use tokio::sync::{Semaphore, mpsc};
use tonic::transport::Channel;

#[derive(Parser)]
// A later --subscribers (the script's caller's) overrides the script's.
#[command(args_override_self = true)]
struct Args {
    /// Server address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    server: String,
    /// PID of the server process, to read its memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Concurrent subscribers.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Subscribers per HTTP/2 connection.
    #[arg(long, default_value_t = 100)]
    per_connection: usize,
    /// HTTP/2 connections (instead of --per-connection).
    #[arg(long)]
    connections: Option<usize>,
    /// Subscriptions being opened at once.
    #[arg(long, default_value_t = 64)]
    opening: usize,
    /// Snapshots recorded.
    #[arg(long, default_value_t = 200)]
    snapshots: usize,
    /// Pause between two recordings.
    #[arg(long, default_value = "20ms", value_parser = humantime::parse_duration)]
    pause: Duration,
}

fn resident_kib(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// (sequence number, time received) of each snapshot a subscriber got.
type Receipts = Vec<(u64, Instant)>;

/// The sequence number of the i-th snapshot (in total_applications).
const FIRST: u64 = 10;

/// Opens a subscription, waits until it is caught up, then collects
/// `expected` snapshots.
async fn subscriber(
    channel: Channel,
    expected: usize,
    opening: Arc<Semaphore>,
    ready: mpsc::Sender<()>,
) -> Result<Receipts, tonic::Status> {
    let permit = opening.acquire_owned().await;
    let mut stream = EntropyServiceClient::new(channel)
        .subscribe_pattern_entropy(pb::SubscribePatternEntropyRequest::default())
        .await?
        .into_inner();
    // Every subscriber is live (caught up) before anything is recorded.
    loop {
        let message = stream
            .message()
            .await?
            .ok_or_else(|| tonic::Status::unavailable("stream closed"))?;
        if matches!(message.event, Some(Event::CaughtUp(_))) {
            break;
        }
    }
    drop(permit);
    let _ = ready.send(()).await;
    let mut mine = Vec::with_capacity(expected);
    while mine.len() < expected {
        match stream.message().await {
            Ok(Some(pb::SubscribePatternEntropyResponse {
                event: Some(Event::Snapshot(snapshot)),
                ..
            })) => mine.push((snapshot.total_applications as u64, Instant::now())),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    Ok(mine)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let connections = args
        .connections
        .unwrap_or_else(|| args.subscribers.div_ceil(args.per_connection.max(1)))
        .max(1);
    let mut channels = Vec::new();
    for _ in 0..connections {
        channels.push(Channel::from_shared(args.server.clone())?.connect().await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let memory_before = resident_kib(args.server_pid);

    let opening = Arc::new(Semaphore::new(args.opening.max(1)));
    let (ready, mut readies) = mpsc::channel(args.subscribers.max(1));
    let opened = Instant::now();
    let tasks: Vec<_> = (0..args.subscribers)
        .map(|index| {
            tokio::spawn(subscriber(
                channels[index % connections].clone(),
                args.snapshots,
                opening.clone(),
                ready.clone(),
            ))
        })
        .collect();
    drop(ready);
    for _ in 0..args.subscribers {
        readies
            .recv()
            .await
            .ok_or("a subscription failed to open")?;
    }
    let open_seconds = opened.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let memory_open = resident_kib(args.server_pid);

    let mut writer = EntropyServiceClient::new(channels[0].clone());
    let mut returned = Vec::with_capacity(args.snapshots);
    let started = Instant::now();
    for i in 0..args.snapshots {
        let diversity = (i % 100) as f64 / 100.0;
        writer
            .record_pattern_entropy(pb::RecordPatternEntropyRequest {
                metrics: Some(pb::PatternEntropyMetrics {
                    shannon_entropy: diversity,
                    max_possible_entropy: 1.0,
                    diversity_index: diversity,
                    unique_pattern_count: 2,
                    effective_pattern_count: 2,
                    total_applications: (FIRST + i as u64) as i64,
                    dominant_pattern_share: 0.5,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await?;
        returned.push(Instant::now());
        tokio::time::sleep(args.pause).await;
    }
    let mut receipts = Vec::with_capacity(tasks.len());
    for task in tasks {
        receipts.push(tokio::time::timeout(Duration::from_secs(120), task).await???);
    }
    let elapsed = started.elapsed();
    let memory_after = resident_kib(args.server_pid);

    let order = FIRST..FIRST + args.snapshots as u64;
    let complete = receipts
        .iter()
        .filter(|mine| mine.iter().map(|(seq, _)| *seq).eq(order.clone()))
        .count();
    // A delivery can beat the record call's own response: that counts as 0.
    let mut latencies: Vec<u64> = receipts
        .iter()
        .flatten()
        .filter_map(|(seq, at)| {
            returned
                .get(seq.checked_sub(FIRST)? as usize)
                .map(|r| at.saturating_duration_since(*r).as_micros() as u64)
        })
        .collect();
    latencies.sort_unstable();

    println!("subscribers:              {}", args.subscribers);
    println!("connections:              {connections}");
    println!("opened and caught up in:  {open_seconds:.1} s");
    println!(
        "snapshots recorded:       {} in {:.1} s",
        args.snapshots,
        elapsed.as_secs_f64()
    );
    println!(
        "complete and in order:    {complete} of {} subscribers",
        receipts.len()
    );
    println!("deliveries:               {}", latencies.len());
    println!(
        "latency after the record call returned: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.50) as f64 / 1000.0,
        percentile(&latencies, 0.99) as f64 / 1000.0,
        latencies.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    if let (Some(before), Some(open)) = (memory_before, memory_open) {
        println!(
            "server RSS:               {before} KiB before, {open} KiB with subscribers: {:.1} KiB per subscriber",
            (open as f64 - before as f64) / args.subscribers as f64
        );
    }
    if let Some(after) = memory_after {
        println!("server RSS after the snapshots: {after} KiB");
    }
    if complete != args.subscribers {
        return Err("some subscribers missed snapshots".into());
    }
    Ok(())
}
