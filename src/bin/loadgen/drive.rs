//! Runs a workload with C concurrent callers for a fixed time and measures it.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use tonic::transport::{Channel, Endpoint};

use crate::rpcs::Workload;

/// HTTP/2 connections, shared round robin by the callers. `servers` may
/// name several replicas, comma-separated: connection i goes to replica
/// i mod n, so the callers are spread evenly over them.
pub async fn connect(servers: &str, connections: usize) -> Result<Vec<Channel>, String> {
    let servers: Vec<&str> = servers.split(',').map(str::trim).collect();
    let mut channels = Vec::with_capacity(connections);
    for index in 0..connections {
        let server = servers[index % servers.len()];
        let channel = Endpoint::from_shared(server.to_owned())
            .map_err(|e| format!("{server}: {e}"))?
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|e| format!("cannot connect to {server}: {e}"))?;
        channels.push(channel);
    }
    Ok(channels)
}

pub struct Outcome {
    pub calls: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Latency of successful and failed calls, in microseconds.
    pub latency: Histogram<u64>,
    pub first_error: Option<String>,
}

impl Outcome {
    pub fn calls_per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    pub fn p50_ms(&self) -> f64 {
        self.latency.value_at_quantile(0.50) as f64 / 1000.0
    }

    pub fn p99_ms(&self) -> f64 {
        self.latency.value_at_quantile(0.99) as f64 / 1000.0
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>8.0} calls/s  p50 {:>7.3} ms  p99 {:>7.3} ms  ({} calls, {} errors)",
            self.calls_per_second(),
            self.p50_ms(),
            self.p99_ms(),
            self.calls,
            self.errors
        )
    }
}

fn histogram() -> Histogram<u64> {
    // 1 us to 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// Every caller calls in a loop until the deadline; calls in flight at the
/// deadline still count (their latency too). With a `rate` (calls per
/// second over all callers), each caller starts its calls at even intervals
/// (catching up after a slow call) instead of back to back.
pub async fn phase(
    channels: &[Channel],
    workload: &Workload,
    concurrency: usize,
    duration: Duration,
    rate: Option<f64>,
) -> Outcome {
    let workload = Arc::new(workload.clone());
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for caller in 0..concurrency {
        let channel = channels[caller % channels.len()].clone();
        let workload = workload.clone();
        let mut pace = rate.map(|rate| {
            let period = Duration::from_secs_f64(concurrency as f64 / rate.max(1e-3));
            // Callers start spread over one period, not all at once.
            let first = start + period.mul_f64(caller as f64 / concurrency as f64);
            tokio::time::interval_at(first.into(), period)
        });
        tasks.push(tokio::spawn(async move {
            let mut latency = histogram();
            let (mut calls, mut errors, mut first_error) = (0_u64, 0_u64, None);
            let mut n = 0;
            while Instant::now() < deadline {
                if let Some(pace) = pace.as_mut() {
                    pace.tick().await;
                }
                let sent = Instant::now();
                let result = workload.call(&channel, caller, n).await;
                let _ = latency.record(sent.elapsed().as_micros().max(1) as u64);
                calls += 1;
                if let Err(status) = result {
                    errors += 1;
                    first_error.get_or_insert_with(|| format!("{status:?}"));
                }
                n += 1;
            }
            (calls, errors, latency, first_error)
        }));
    }
    let mut outcome = Outcome {
        calls: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latency: histogram(),
        first_error: None,
    };
    for task in tasks {
        match task.await {
            Ok((calls, errors, latency, first_error)) => {
                outcome.calls += calls;
                outcome.errors += errors;
                let _ = outcome.latency.add(&latency);
                if outcome.first_error.is_none() {
                    outcome.first_error = first_error;
                }
            }
            Err(error) => outcome.first_error = Some(format!("caller failed: {error}")),
        }
    }
    outcome.elapsed = start.elapsed();
    outcome
}
