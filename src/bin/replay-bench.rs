//! Benchmark of BudgetService.ReplayBudgetPolicy: records N adjustments on
//! one job through CalculateBudgetAdjustment, then times one call that
//! replays them through a sweep of candidate policies (summaries only, and
//! with the steps of a few candidates), repeated to give a distribution.

use std::time::{Duration, Instant};

use clap::Parser;
use learning_service::pb::{self, budget_service_client::BudgetServiceClient};
use tonic::transport::Channel;

#[derive(Parser)]
struct Args {
    /// Server address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    server: String,
    /// Adjustments recorded on the job before the replays.
    #[arg(long, default_value_t = 10_000)]
    adjustments: usize,
    /// Candidates of the sweep (thresholds x decay rates).
    #[arg(long, default_value_t = 20)]
    candidates: usize,
    /// Candidates of the run that also returns every step.
    #[arg(long, default_value_t = 4)]
    with_steps: usize,
    /// Timed calls of each kind.
    #[arg(long, default_value_t = 20)]
    repeat: usize,
    /// Concurrent writers while recording.
    #[arg(long, default_value_t = 16)]
    writers: usize,
}

const JOB: &str = "replay-bench";

/// Deterministic entropies in [0, 1] (an LCG), in low and healthy runs.
fn entropy(i: usize) -> f64 {
    let x = (i as u64)
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
    if (i / 50).is_multiple_of(3) {
        unit * 0.3
    } else {
        0.2 + unit * 0.8
    }
}

/// A sweep: thresholds 0.2..0.5 crossed with decay rates 0.80..0.99.
fn sweep(n: usize) -> Vec<pb::BudgetPolicy> {
    let thresholds = [0.2, 0.3, 0.4, 0.5];
    let decays = [0.8, 0.85, 0.9, 0.95, 0.99];
    (0..n)
        .map(|i| pb::BudgetPolicy {
            entropy_threshold: Some(thresholds[i % thresholds.len()]),
            decay_rate: Some(decays[(i / thresholds.len()) % decays.len()]),
            ..Default::default()
        })
        .collect()
}

async fn record(
    client: &BudgetServiceClient<Channel>,
    n: usize,
    writers: usize,
) -> Result<(), String> {
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let mut client = client.clone();
        tasks.spawn(async move {
            let mut i = w;
            while i < n {
                client
                    .calculate_budget_adjustment(pb::CalculateBudgetAdjustmentRequest {
                        job_hash: JOB.into(),
                        current_entropy: entropy(i),
                        ..Default::default()
                    })
                    .await
                    .map_err(|s| s.to_string())?;
                i += writers;
            }
            Ok::<_, String>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    Ok(())
}

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label}: {} calls, min {:.1} ms, median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        times.len(),
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() * 9 / 10]),
        ms(times[times.len() - 1]),
    );
}

async fn timed(
    client: &mut BudgetServiceClient<Channel>,
    request: pb::ReplayBudgetPolicyRequest,
    repeat: usize,
    expected_steps: i64,
) -> Result<(Vec<Duration>, usize), String> {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..repeat {
        let started = Instant::now();
        let answer = client
            .replay_budget_policy(request.clone())
            .await
            .map_err(|s| s.to_string())?
            .into_inner();
        times.push(started.elapsed());
        let summaries = answer.actual.iter().chain(&answer.candidates);
        for replay in summaries {
            let steps = replay.summary.as_ref().map_or(0, |s| s.steps);
            if steps != expected_steps {
                return Err(format!(
                    "a trajectory has {steps} steps, not {expected_steps}"
                ));
            }
        }
        bytes = prost::Message::encoded_len(&answer);
    }
    Ok((times, bytes))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let mut client = BudgetServiceClient::connect(args.server.clone())
        .await
        .map_err(|e| e.to_string())?
        .max_decoding_message_size(8 << 20);
    let started = Instant::now();
    record(&client, args.adjustments, args.writers).await?;
    println!(
        "recorded {} adjustments on one job in {:.1} s ({} writers)",
        args.adjustments,
        started.elapsed().as_secs_f64(),
        args.writers
    );
    let expected = args.adjustments as i64;
    let request = |candidates, summaries_only| pb::ReplayBudgetPolicyRequest {
        job_hash: JOB.into(),
        candidates,
        summaries_only,
        ..Default::default()
    };
    let (times, bytes) = timed(
        &mut client,
        request(sweep(args.candidates), true),
        args.repeat,
        expected,
    )
    .await?;
    report(
        &format!(
            "sweep of {} candidates over {} readings, summaries only ({bytes} bytes)",
            args.candidates, args.adjustments
        ),
        times,
    );
    let (times, bytes) = timed(
        &mut client,
        request(sweep(args.with_steps), false),
        args.repeat,
        expected,
    )
    .await?;
    report(
        &format!(
            "{} candidates over {} readings with every step ({bytes} bytes)",
            args.with_steps, args.adjustments
        ),
        times,
    );
    Ok(())
}
