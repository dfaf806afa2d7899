//! The write load: callers that retry every call with its request_id until
//! it is acknowledged, and log each acknowledged record.

use std::{
    fs::File,
    future::Future,
    io::Write,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use learning_service::pb::{
    self, AdjustmentType, QuarantineStatus, budget_service_client::BudgetServiceClient,
    entropy_service_client::EntropyServiceClient, pattern_service_client::PatternServiceClient,
};
use prost::Message;
use tonic::{Code, Status, transport::Channel};

use super::LoadArgs;

/// xorshift64*: reproducible from the seed, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }

    fn fraction(&mut self) -> f64 {
        self.below(1_000_001) as f64 / 1_000_000.0
    }
}

#[derive(Default)]
struct Counters {
    acknowledged: u64,
    retries: u64,
    replays: u64,
    refused_reuses: u64,
}

/// Errors of a dead or restarting server (connection refused or reset,
/// stream cut): the call is retried. A server's own INTERNAL (its message
/// names the store) is a real failure.
fn retryable(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Cancelled
        | Code::Unknown
        | Code::ResourceExhausted => true,
        Code::Internal => !["database error", "internal error", "the store"]
            .iter()
            .any(|prefix| status.message().starts_with(prefix)),
        _ => false,
    }
}

struct Caller {
    index: usize,
    seed: u64,
    rng: Rng,
    channel: Channel,
    log: Arc<Mutex<File>>,
    give_up_after: Duration,
    counters: Counters,
    calls: u64,
    /// Patterns this caller recorded: its applications and status changes use them.
    patterns: Vec<String>,
}

impl Caller {
    fn job(&self) -> String {
        format!("crash-job-{}", self.index)
    }

    fn next_request_id(&mut self) -> String {
        self.calls += 1;
        format!("crash-{}-{}-{}", self.seed, self.index, self.calls)
    }

    fn record(&mut self, fields: &[&str]) -> Result<(), String> {
        let line = fields.join("\t");
        let mut log = self
            .log
            .lock()
            .map_err(|_| "log lock poisoned".to_owned())?;
        writeln!(log, "{line}").map_err(|e| format!("cannot write the log: {e}"))?;
        self.counters.acknowledged += 1;
        Ok(())
    }

    /// Sends until an answer other than a transport failure comes back.
    async fn answer<Req, Resp, F, Fut>(&mut self, rpc: &F, request: &Req) -> Result<Resp, Status>
    where
        Req: Clone,
        F: Fn(Channel, Req) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        let started = Instant::now();
        loop {
            match rpc(self.channel.clone(), request.clone()).await {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) if retryable(&status) && started.elapsed() < self.give_up_after => {
                    self.counters.retries += 1;
                    let pause = 20 + self.rng.below(80);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(status) => return Err(status),
            }
        }
    }

    /// One write, acknowledged; now and then replayed (same response
    /// expected) and reused with another payload (refusal expected).
    async fn write<Req, Resp, F, Fut>(
        &mut self,
        what: &str,
        rpc: F,
        request: Req,
        altered: Req,
    ) -> Result<Resp, String>
    where
        Req: Clone + std::fmt::Debug,
        Resp: Message + PartialEq + std::fmt::Debug,
        F: Fn(Channel, Req) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        let first = self
            .answer(&rpc, &request)
            .await
            .map_err(|status| format!("{what} {request:?}: {status:?}"))?;
        if self.rng.below(10) == 0 {
            let again = self
                .answer(&rpc, &request)
                .await
                .map_err(|status| format!("replay of {what}: {status:?}"))?;
            if again != first {
                return Err(format!(
                    "replay of {what} {request:?} answered {again:?}, first {first:?}"
                ));
            }
            self.counters.replays += 1;
        }
        if self.rng.below(40) == 0 {
            match self.answer(&rpc, &altered).await {
                Err(status) if status.code() == Code::InvalidArgument => {
                    if !status.message().starts_with("request_id") {
                        return Err(format!("reuse of {what}'s id refused as {status:?}"));
                    }
                    self.counters.refused_reuses += 1;
                }
                other => return Err(format!("reuse of {what}'s id: {other:?}")),
            }
        }
        Ok(first)
    }

    async fn run(mut self, stop_file: PathBuf) -> Result<Counters, String> {
        while !stop_file.exists() {
            let request_id = self.next_request_id();
            match self.rng.below(100) {
                0..25 => self.update(request_id).await?,
                25..45 => self.adjust(request_id).await?,
                45..55 => self.trigger(request_id).await?,
                55..60 => self.respond(request_id).await?,
                60..70 => self.snapshot(request_id).await?,
                70..80 => self.pattern(request_id).await?,
                80..95 if !self.patterns.is_empty() => self.application(request_id).await?,
                95.. if !self.patterns.is_empty() => self.status(request_id).await?,
                _ => self.pattern(request_id).await?,
            }
        }
        Ok(self.counters)
    }

    async fn update(&mut self, request_id: String) -> Result<(), String> {
        let request = pb::UpdateExplorationBudgetRequest {
            job_hash: self.job(),
            budget_value: self.rng.fraction() * 0.8,
            adjustment_type: AdjustmentType::Boost as i32,
            entropy_at_time: Some(self.rng.fraction()),
            request_id: request_id.clone(),
            ..Default::default()
        };
        let altered = pb::UpdateExplorationBudgetRequest {
            budget_value: request.budget_value + 0.01,
            ..request.clone()
        };
        let rpc = |c: Channel, r| async move {
            BudgetServiceClient::new(c)
                .update_exploration_budget(r)
                .await
        };
        let answer = self.write("update", rpc, request, altered).await?;
        let id = answer.record.map(|r| r.id).unwrap_or_default();
        self.record(&["budget", &request_id, &self.job(), &id])
    }

    async fn adjust(&mut self, request_id: String) -> Result<(), String> {
        let request = pb::CalculateBudgetAdjustmentRequest {
            job_hash: self.job(),
            current_entropy: self.rng.fraction(),
            request_id: request_id.clone(),
            ..Default::default()
        };
        let altered = pb::CalculateBudgetAdjustmentRequest {
            decay_rate: Some(0.5),
            ..request.clone()
        };
        let rpc = |c: Channel, r| async move {
            BudgetServiceClient::new(c)
                .calculate_budget_adjustment(r)
                .await
        };
        let answer = self.write("adjust", rpc, request, altered).await?;
        let id = answer.record.map(|r| r.id).unwrap_or_default();
        self.record(&["budget", &request_id, &self.job(), &id])
    }

    async fn trigger(&mut self, request_id: String) -> Result<(), String> {
        let request = pb::TriggerEntropyResponseRequest {
            trigger: Some(pb::EntropyTriggerContext {
                job_hash: self.job(),
                entropy_at_trigger: self.rng.fraction() * 0.3,
                threshold_used: 0.3,
                snapshot_id: None,
            }),
            config: None,
            request_id: request_id.clone(),
        };
        let altered = pb::TriggerEntropyResponseRequest {
            config: Some(pb::EntropyResponseConfig {
                boost_budget: Some(false),
                ..Default::default()
            }),
            ..request.clone()
        };
        let rpc = |c: Channel, r| async move {
            EntropyServiceClient::new(c)
                .trigger_entropy_response(r)
                .await
        };
        let answer = self.write("trigger", rpc, request, altered).await?;
        let id = answer.record.map(|r| r.id).unwrap_or_default();
        // The trigger boosts the budget too: a budget row and a response row.
        self.record(&["trigger", &request_id, &self.job(), &id])
    }

    async fn respond(&mut self, request_id: String) -> Result<(), String> {
        let request = pb::RespondToEntropyIfNeededRequest {
            job_hash: self.job(),
            entropy_threshold: Some(0.99),
            cooldown_seconds: Some(0),
            config: None,
            request_id: request_id.clone(),
            ..Default::default()
        };
        let altered = pb::RespondToEntropyIfNeededRequest {
            entropy_threshold: Some(0.5),
            ..request.clone()
        };
        let rpc = |c: Channel, r| async move {
            EntropyServiceClient::new(c)
                .respond_to_entropy_if_needed(r)
                .await
        };
        let answer = self.write("respond", rpc, request, altered).await?;
        let id = match (answer.needs_response, answer.response) {
            (true, Some(response)) => response.id,
            (false, None) => "-".to_owned(),
            (needed, response) => {
                return Err(format!(
                    "respond: needs_response {needed} with response {response:?}"
                ));
            }
        };
        self.record(&["respond", &request_id, &self.job(), &id])
    }

    async fn snapshot(&mut self, request_id: String) -> Result<(), String> {
        let diversity = self.rng.fraction();
        let request = pb::RecordPatternEntropyRequest {
            metrics: Some(pb::PatternEntropyMetrics {
                shannon_entropy: diversity,
                max_possible_entropy: 1.0,
                diversity_index: diversity,
                unique_pattern_count: 2,
                effective_pattern_count: 2,
                total_applications: 10,
                dominant_pattern_share: 0.5,
                threshold_exceeded: diversity < 0.3,
                ..Default::default()
            }),
            request_id: request_id.clone(),
        };
        let mut altered = request.clone();
        if let Some(metrics) = altered.metrics.as_mut() {
            metrics.total_applications += 1;
        }
        let rpc = |c: Channel, r| async move {
            EntropyServiceClient::new(c).record_pattern_entropy(r).await
        };
        let answer = self.write("snapshot", rpc, request, altered).await?;
        self.record(&["snapshot", &request_id, "-", &answer.id])
    }

    async fn pattern(&mut self, request_id: String) -> Result<(), String> {
        let request = pb::RecordPatternRequest {
            pattern_type: "crash".into(),
            pattern_name: format!("pattern-{request_id}"),
            description: Some("recorded by the crash test".into()),
            quarantine_status: None,
            request_id: request_id.clone(),
            ..Default::default()
        };
        let altered = pb::RecordPatternRequest {
            pattern_name: format!("other-{request_id}"),
            ..request.clone()
        };
        let rpc =
            |c: Channel, r| async move { PatternServiceClient::new(c).record_pattern(r).await };
        let answer = self.write("pattern", rpc, request, altered).await?;
        let id = answer.pattern.map(|p| p.id).unwrap_or_default();
        self.patterns.push(id.clone());
        self.record(&["pattern", &request_id, "-", &id])
    }

    fn some_pattern(&mut self) -> String {
        let index = self.rng.below(self.patterns.len() as u64) as usize;
        self.patterns[index].clone()
    }

    async fn application(&mut self, request_id: String) -> Result<(), String> {
        let pattern_id = self.some_pattern();
        let request = pb::RecordPatternApplicationRequest {
            pattern_id: pattern_id.clone(),
            execution_id: format!("exec-{request_id}"),
            pattern_led_to_success: self.rng.below(2) == 0,
            request_id: request_id.clone(),
        };
        let altered = pb::RecordPatternApplicationRequest {
            pattern_led_to_success: !request.pattern_led_to_success,
            ..request.clone()
        };
        let rpc = |c: Channel, r| async move {
            PatternServiceClient::new(c)
                .record_pattern_application(r)
                .await
        };
        let answer = self.write("application", rpc, request, altered).await?;
        self.record(&[
            "application",
            &request_id,
            "-",
            &answer.application_id,
            &pattern_id,
        ])
    }

    async fn status(&mut self, request_id: String) -> Result<(), String> {
        // Never `quarantined`: entropy responses would revisit it, and the
        // final status of each pattern is checked.
        let (status, text) = match self.rng.below(3) {
            0 => (QuarantineStatus::Pending, "pending"),
            1 => (QuarantineStatus::Validated, "validated"),
            _ => (QuarantineStatus::Retired, "retired"),
        };
        let pattern_id = self.some_pattern();
        let request = pb::SetPatternQuarantineStatusRequest {
            pattern_id: pattern_id.clone(),
            status: status as i32,
            reason: Some(format!("set by {request_id}")),
            request_id: request_id.clone(),
        };
        let altered = pb::SetPatternQuarantineStatusRequest {
            reason: Some("another reason".into()),
            ..request.clone()
        };
        let rpc = |c: Channel, r| async move {
            PatternServiceClient::new(c)
                .set_pattern_quarantine_status(r)
                .await
        };
        self.write("status", rpc, request, altered).await?;
        self.record(&["status", &request_id, "-", &pattern_id, text])
    }
}

pub async fn run(args: LoadArgs) -> Result<String, Vec<String>> {
    let started = Instant::now();
    let log = File::options()
        .create(true)
        .append(true)
        .open(&args.log)
        .map_err(|e| vec![format!("cannot open {}: {e}", args.log.display())])?;
    let log = Arc::new(Mutex::new(log));
    let endpoint = Channel::from_shared(format!("http://{}", args.addr))
        .map_err(|e| vec![format!("bad address {}: {e}", args.addr)])?
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_secs(10));
    let mut callers = Vec::new();
    for index in 0..args.callers {
        let caller = Caller {
            index,
            seed: args.seed,
            rng: Rng::new(args.seed ^ ((index as u64 + 1) << 32)),
            // One connection per caller, as separate client processes would have.
            channel: endpoint.connect_lazy(),
            log: log.clone(),
            give_up_after: args.give_up_after,
            counters: Counters::default(),
            calls: 0,
            patterns: Vec::new(),
        };
        callers.push(tokio::spawn(caller.run(args.stop_file.clone())));
    }
    let mut total = Counters::default();
    let mut problems = Vec::new();
    for caller in callers {
        match caller.await {
            Ok(Ok(c)) => {
                total.acknowledged += c.acknowledged;
                total.retries += c.retries;
                total.replays += c.replays;
                total.refused_reuses += c.refused_reuses;
            }
            Ok(Err(problem)) => problems.push(problem),
            Err(e) => problems.push(format!("a caller panicked: {e}")),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(format!(
        "load: {} callers, {} acknowledged writes, {} retried sends, {} replays answered \
         identically, {} reused ids refused, {:.1}s",
        args.callers,
        total.acknowledged,
        total.retries,
        total.replays,
        total.refused_reuses,
        started.elapsed().as_secs_f64()
    ))
}
