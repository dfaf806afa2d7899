//! The RPCs the load generator can drive, and the request each call sends.

use learning_service::pb::{
    self, AdjustmentType, budget_service_client::BudgetServiceClient, budget_service_server,
    entropy_service_client::EntropyServiceClient, entropy_service_server,
    pattern_service_client::PatternServiceClient, pattern_service_server,
};
use prost::Message;
use tonic::{Status, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient, health_server};

use crate::job_name;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rpc {
    Check,
    UpdateExplorationBudget,
    CalculateBudgetAdjustment,
    GetExplorationBudget,
    GetExplorationBudgetHistory,
    GetExplorationBudgetStatistics,
    GetEntropyResponseStatistics,
    CalculatePatternEntropy,
    CheckEntropyResponseNeeded,
    RecordPatternApplication,
}

pub const NAMES: [&str; 9] = [
    "UpdateExplorationBudget",
    "CalculateBudgetAdjustment",
    "GetExplorationBudget",
    "GetExplorationBudgetHistory",
    "GetExplorationBudgetStatistics",
    "GetEntropyResponseStatistics",
    "CalculatePatternEntropy",
    "CheckEntropyResponseNeeded",
    "RecordPatternApplication",
];

const HEALTH: &str = health_server::SERVICE_NAME;
const BUDGET: &str = budget_service_server::SERVICE_NAME;
const ENTROPY: &str = entropy_service_server::SERVICE_NAME;
const PATTERN: &str = pattern_service_server::SERVICE_NAME;

/// The mix: a daemon-and-CLI-like blend, writes about one call in three.
const MIX: [Rpc; 10] = [
    Rpc::UpdateExplorationBudget,
    Rpc::CalculateBudgetAdjustment,
    Rpc::GetExplorationBudget,
    Rpc::GetExplorationBudget,
    Rpc::GetExplorationBudgetHistory,
    Rpc::GetExplorationBudgetStatistics,
    Rpc::CalculateBudgetAdjustment,
    Rpc::GetExplorationBudget,
    Rpc::GetEntropyResponseStatistics,
    Rpc::CheckEntropyResponseNeeded,
];

fn parse(name: &str) -> Option<Rpc> {
    Some(match name {
        "Check" => Rpc::Check,
        "UpdateExplorationBudget" => Rpc::UpdateExplorationBudget,
        "CalculateBudgetAdjustment" => Rpc::CalculateBudgetAdjustment,
        "GetExplorationBudget" => Rpc::GetExplorationBudget,
        "GetExplorationBudgetHistory" => Rpc::GetExplorationBudgetHistory,
        "GetExplorationBudgetStatistics" => Rpc::GetExplorationBudgetStatistics,
        "GetEntropyResponseStatistics" => Rpc::GetEntropyResponseStatistics,
        "CalculatePatternEntropy" => Rpc::CalculatePatternEntropy,
        "CheckEntropyResponseNeeded" => Rpc::CheckEntropyResponseNeeded,
        "RecordPatternApplication" => Rpc::RecordPatternApplication,
        _ => return None,
    })
}

/// What every caller sends: the RPCs in turn, over `jobs` jobs.
#[derive(Clone, Debug)]
pub struct Workload {
    rpcs: Vec<Rpc>,
    jobs: usize,
    /// The patterns RecordPatternApplication applies, round robin (see
    /// [`Workload::resolve`]).
    pattern_ids: Vec<String>,
    /// The window of the entropy readings (None: all time).
    window: Option<prost_types::Duration>,
}

impl Workload {
    pub fn parse(name: &str, jobs: usize) -> Result<Self, String> {
        let rpcs =
            if name == "mix" {
                MIX.to_vec()
            } else {
                vec![parse(name).ok_or_else(|| {
                    format!("unknown rpc {name:?}; `--rpc list` prints the names")
                })?]
            };
        Ok(Self {
            rpcs,
            jobs,
            pattern_ids: Vec::new(),
            window: None,
        })
    }

    /// Entropy readings over the last `window` only.
    pub fn with_window(self, window: Option<std::time::Duration>) -> Self {
        Self {
            window: window.map(|w| prost_types::Duration {
                seconds: w.as_secs() as i64,
                nanos: w.subsec_nanos() as i32,
            }),
            ..self
        }
    }

    /// Picks known patterns (the first `patterns` listed, at least one)
    /// when the workload applies them.
    pub async fn resolve(&mut self, channel: &Channel, patterns: usize) -> Result<(), String> {
        if !self.rpcs.contains(&Rpc::RecordPatternApplication) {
            return Ok(());
        }
        let listed = PatternServiceClient::new(channel.clone())
            .list_patterns(pb::ListPatternsRequest {
                limit: patterns.clamp(1, 1000) as i32,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("cannot list patterns: {e}"))?
            .into_inner();
        self.pattern_ids = listed.patterns.into_iter().map(|p| p.id).collect();
        if self.pattern_ids.is_empty() {
            return Err(
                "RecordPatternApplication needs a pattern: seed some with `loadgen seed`".into(),
            );
        }
        Ok(())
    }

    pub fn check() -> Self {
        Self {
            rpcs: vec![Rpc::Check],
            jobs: 1,
            pattern_ids: Vec::new(),
            window: None,
        }
    }

    /// The RPC of the `n`th call of every caller.
    pub fn nth_rpc(&self, n: usize) -> Rpc {
        self.rpcs[n % self.rpcs.len()]
    }

    /// The `n`th call of caller `caller`.
    pub async fn call(&self, channel: &Channel, caller: usize, n: usize) -> Result<(), Status> {
        let job = job_name((caller + n * 7) % self.jobs);
        let request = self.request(self.nth_rpc(n), job, caller, n);
        request.send(channel.clone()).await
    }

    /// The request of call `n` of `caller`, for `rpc` on `job`.
    pub fn request(&self, rpc: Rpc, job: String, caller: usize, n: usize) -> Request {
        match rpc {
            Rpc::Check => Request::Check(HealthCheckRequest {
                service: String::new(),
            }),
            Rpc::UpdateExplorationBudget => {
                Request::UpdateExplorationBudget(pb::UpdateExplorationBudgetRequest {
                    job_hash: job,
                    budget_value: 0.1 + (n % 30) as f64 * 0.01,
                    adjustment_type: AdjustmentType::Boost as i32,
                    entropy_at_time: Some(0.2),
                    ..Default::default()
                })
            }
            Rpc::CalculateBudgetAdjustment => {
                Request::CalculateBudgetAdjustment(pb::CalculateBudgetAdjustmentRequest {
                    job_hash: job,
                    current_entropy: if n.is_multiple_of(2) { 0.1 } else { 0.5 },
                    ..Default::default()
                })
            }
            Rpc::GetExplorationBudget => {
                Request::GetExplorationBudget(pb::GetExplorationBudgetRequest {
                    job_hash: Some(job),
                })
            }
            Rpc::GetExplorationBudgetHistory => {
                Request::GetExplorationBudgetHistory(pb::GetExplorationBudgetHistoryRequest {
                    job_hash: Some(job),
                    limit: 50,
                    ..Default::default()
                })
            }
            Rpc::GetExplorationBudgetStatistics => {
                Request::GetExplorationBudgetStatistics(pb::GetExplorationBudgetStatisticsRequest {
                    job_hash: Some(job),
                })
            }
            Rpc::GetEntropyResponseStatistics => {
                Request::GetEntropyResponseStatistics(pb::GetEntropyResponseStatisticsRequest {
                    job_hash: Some(job),
                })
            }
            Rpc::CalculatePatternEntropy => {
                Request::CalculatePatternEntropy(pb::CalculatePatternEntropyRequest {
                    window: self.window,
                    ..Default::default()
                })
            }
            Rpc::CheckEntropyResponseNeeded => {
                Request::CheckEntropyResponseNeeded(pb::CheckEntropyResponseNeededRequest {
                    job_hash: job,
                    entropy_threshold: Some(0.3),
                    // No cooldown, so that every call computes the entropy.
                    cooldown_seconds: Some(0),
                    window: self.window,
                    ..Default::default()
                })
            }
            Rpc::RecordPatternApplication => {
                Request::RecordPatternApplication(pb::RecordPatternApplicationRequest {
                    pattern_id: self
                        .pattern_ids
                        .get((caller + n * 7) % self.pattern_ids.len().max(1))
                        .cloned()
                        .unwrap_or_default(),
                    execution_id: format!("load-{caller}-{n}"),
                    pattern_led_to_success: n.is_multiple_of(2),
                    request_id: String::new(),
                })
            }
        }
    }

    /// The pattern RecordPatternApplication applies, when known beforehand.
    pub fn with_pattern(self, pattern_id: String) -> Self {
        Self {
            pattern_ids: vec![pattern_id],
            ..self
        }
    }
}

/// Declares [`Request`], one variant per RPC, with how each is sent, its
/// path and its encoding, from one line per RPC (so the four cannot disagree).
macro_rules! requests {
    ($($rpc:ident($message:ty) => $client:ident::$method:ident on $service:ident,)*) => {
        /// One call's request message: sent by the load generator, or encoded
        /// as a gRPC frame by `loadgen frame` for tools that send a fixed body.
        #[derive(Clone, Debug)]
        pub enum Request {
            $($rpc($message),)*
        }

        impl Request {
            pub async fn send(self, channel: Channel) -> Result<(), Status> {
                match self {
                    $(Request::$rpc(r) => drop($client::new(channel).$method(r).await?),)*
                }
                Ok(())
            }

            /// The HTTP/2 path of the call: `/package.Service/Method`.
            pub fn path(&self) -> String {
                let (service, method) = match self {
                    $(Request::$rpc(_) => ($service, stringify!($rpc)),)*
                };
                format!("/{service}/{method}")
            }

            /// The protobuf encoding of the message (without the gRPC prefix).
            pub fn encode(&self) -> Vec<u8> {
                match self {
                    $(Request::$rpc(r) => r.encode_to_vec(),)*
                }
            }
        }
    };
}

requests! {
    Check(HealthCheckRequest) => HealthClient::check on HEALTH,
    UpdateExplorationBudget(pb::UpdateExplorationBudgetRequest)
        => BudgetServiceClient::update_exploration_budget on BUDGET,
    CalculateBudgetAdjustment(pb::CalculateBudgetAdjustmentRequest)
        => BudgetServiceClient::calculate_budget_adjustment on BUDGET,
    GetExplorationBudget(pb::GetExplorationBudgetRequest)
        => BudgetServiceClient::get_exploration_budget on BUDGET,
    GetExplorationBudgetHistory(pb::GetExplorationBudgetHistoryRequest)
        => BudgetServiceClient::get_exploration_budget_history on BUDGET,
    GetExplorationBudgetStatistics(pb::GetExplorationBudgetStatisticsRequest)
        => BudgetServiceClient::get_exploration_budget_statistics on BUDGET,
    GetEntropyResponseStatistics(pb::GetEntropyResponseStatisticsRequest)
        => EntropyServiceClient::get_entropy_response_statistics on ENTROPY,
    CalculatePatternEntropy(pb::CalculatePatternEntropyRequest)
        => EntropyServiceClient::calculate_pattern_entropy on ENTROPY,
    CheckEntropyResponseNeeded(pb::CheckEntropyResponseNeededRequest)
        => EntropyServiceClient::check_entropy_response_needed on ENTROPY,
    RecordPatternApplication(pb::RecordPatternApplicationRequest)
        => PatternServiceClient::record_pattern_application on PATTERN,
}
