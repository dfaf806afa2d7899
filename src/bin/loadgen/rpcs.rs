//! The RPCs the load generator can drive, and the request each call sends.

use learning_service::pb::{
    self, AdjustmentType, budget_service_client::BudgetServiceClient,
    entropy_service_client::EntropyServiceClient, pattern_service_client::PatternServiceClient,
};
use tonic::{Status, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

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

    /// The `n`th call of caller `caller`.
    pub async fn call(&self, channel: &Channel, caller: usize, n: usize) -> Result<(), Status> {
        let rpc = self.rpcs[n % self.rpcs.len()];
        let job = job_name((caller + n * 7) % self.jobs);
        let channel = channel.clone();
        match rpc {
            Rpc::Check => {
                HealthClient::new(channel)
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await?;
            }
            Rpc::UpdateExplorationBudget => {
                BudgetServiceClient::new(channel)
                    .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
                        job_hash: job,
                        budget_value: 0.1 + (n % 30) as f64 * 0.01,
                        adjustment_type: AdjustmentType::Boost as i32,
                        entropy_at_time: Some(0.2),
                        ..Default::default()
                    })
                    .await?;
            }
            Rpc::CalculateBudgetAdjustment => {
                BudgetServiceClient::new(channel)
                    .calculate_budget_adjustment(pb::CalculateBudgetAdjustmentRequest {
                        job_hash: job,
                        current_entropy: if n.is_multiple_of(2) { 0.1 } else { 0.5 },
                        ..Default::default()
                    })
                    .await?;
            }
            Rpc::GetExplorationBudget => {
                BudgetServiceClient::new(channel)
                    .get_exploration_budget(pb::GetExplorationBudgetRequest {
                        job_hash: Some(job),
                    })
                    .await?;
            }
            Rpc::GetExplorationBudgetHistory => {
                BudgetServiceClient::new(channel)
                    .get_exploration_budget_history(pb::GetExplorationBudgetHistoryRequest {
                        job_hash: Some(job),
                        limit: 50,
                        ..Default::default()
                    })
                    .await?;
            }
            Rpc::GetExplorationBudgetStatistics => {
                BudgetServiceClient::new(channel)
                    .get_exploration_budget_statistics(pb::GetExplorationBudgetStatisticsRequest {
                        job_hash: Some(job),
                    })
                    .await?;
            }
            Rpc::GetEntropyResponseStatistics => {
                EntropyServiceClient::new(channel)
                    .get_entropy_response_statistics(pb::GetEntropyResponseStatisticsRequest {
                        job_hash: Some(job),
                    })
                    .await?;
            }
            Rpc::CalculatePatternEntropy => {
                EntropyServiceClient::new(channel)
                    .calculate_pattern_entropy(pb::CalculatePatternEntropyRequest {
                        window: self.window,
                        ..Default::default()
                    })
                    .await?;
            }
            Rpc::CheckEntropyResponseNeeded => {
                EntropyServiceClient::new(channel)
                    .check_entropy_response_needed(pb::CheckEntropyResponseNeededRequest {
                        job_hash: job,
                        entropy_threshold: Some(0.3),
                        // No cooldown, so that every call computes the entropy.
                        cooldown_seconds: Some(0),
                        window: self.window,
                        ..Default::default()
                    })
                    .await?;
            }
            Rpc::RecordPatternApplication => {
                PatternServiceClient::new(channel)
                    .record_pattern_application(pb::RecordPatternApplicationRequest {
                        pattern_id: self.pattern_ids[(caller + n * 7) % self.pattern_ids.len()]
                            .clone(),
                        execution_id: format!("load-{caller}-{n}"),
                        pattern_led_to_success: n.is_multiple_of(2),
                        request_id: String::new(),
                    })
                    .await?;
            }
        }
        Ok(())
    }
}
