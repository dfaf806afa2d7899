//! learning.v1.BudgetService.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    convert,
    history_cache::{HistoryCache, PageQuery},
    idempotency, page_token, replay,
    subscription::{SubscriberStream, Subscriptions, stream_message},
    validate,
};
use crate::{
    domain::budget::BudgetProposal,
    domain::records::BudgetRecord,
    pb::{self, budget_service_server::BudgetService},
    store::{Store, Write, Written},
};

pub struct BudgetApi {
    store: Arc<dyn Store>,
    subscriptions: Arc<Subscriptions>,
    history: HistoryCache,
}

impl BudgetApi {
    pub fn new(store: Arc<dyn Store>, subscriptions: Arc<Subscriptions>) -> Self {
        Self {
            store,
            subscriptions,
            history: HistoryCache::default(),
        }
    }
}

stream_message!(
    pb::WatchExplorationBudgetResponse,
    BudgetRecord,
    "budget",
    watch_exploration_budget_response::Record,
    convert::budget_record
);

#[tonic::async_trait]
impl BudgetService for BudgetApi {
    type WatchExplorationBudgetStream = SubscriberStream<pb::WatchExplorationBudgetResponse>;

    async fn watch_exploration_budget(
        &self,
        request: Request<pb::WatchExplorationBudgetRequest>,
    ) -> Result<Response<Self::WatchExplorationBudgetStream>, Status> {
        let r = request.into_inner();
        let tail = self.subscriptions.feeds.budget.clone();
        let stream = self
            .subscriptions
            .open_for_job(tail, r.job_hash, r.backfill, r.after_cursor)
            .await?;
        Ok(Response::new(stream))
    }

    async fn get_exploration_budget(
        &self,
        request: Request<pb::GetExplorationBudgetRequest>,
    ) -> Result<Response<pb::GetExplorationBudgetResponse>, Status> {
        let job = validate::job_filter(request.into_inner().job_hash)?;
        let latest = self.store.latest_budget(job).await?;
        Ok(Response::new(pb::GetExplorationBudgetResponse {
            budget: latest.map(convert::budget_record),
        }))
    }

    async fn get_exploration_budget_history(
        &self,
        request: Request<pb::GetExplorationBudgetHistoryRequest>,
    ) -> Result<Response<pb::GetExplorationBudgetHistoryResponse>, Status> {
        let request = request.into_inner();
        let job = validate::job_filter(request.job_hash)?;
        let limit = validate::limit(request.limit)?;
        let before = page_token::before(&request.page_token)?;
        let query = PageQuery { job, limit, before };
        let page = self.history.page(&*self.store, query).await?;
        Ok(Response::new(page))
    }

    async fn update_exploration_budget(
        &self,
        request: Request<pb::UpdateExplorationBudgetRequest>,
    ) -> Result<Response<pb::UpdateExplorationBudgetResponse>, Status> {
        let mut request = request.into_inner();
        let key = idempotency::key(&mut request)?;
        let job = validate::job_hash("job_hash", request.job_hash)?;
        let value = validate::finite("budget_value", request.budget_value)?;
        let adjustment_type = convert::requested_adjustment_type(request.adjustment_type)?;
        let entropy = request
            .entropy_at_time
            .map(|e| validate::fraction("entropy_at_time", e))
            .transpose()?;
        let reason = validate::text("adjustment_reason", request.adjustment_reason)?;
        let bounds = validate::bounds("floor", request.floor, "ceiling", request.ceiling)?;
        let proposal = BudgetProposal {
            value,
            adjustment_type,
            reason,
        };
        let write = Write::UpdateBudget {
            job,
            proposal,
            bounds,
            entropy_at_time: entropy,
        };
        let response = idempotency::write(&*self.store, key, write, |written| match written {
            Written::Budget(record) => Some(pb::UpdateExplorationBudgetResponse {
                record: Some(convert::budget_record(record)),
            }),
            _ => None,
        });
        Ok(Response::new(response.await?))
    }

    async fn calculate_budget_adjustment(
        &self,
        request: Request<pb::CalculateBudgetAdjustmentRequest>,
    ) -> Result<Response<pb::CalculateBudgetAdjustmentResponse>, Status> {
        let mut r = request.into_inner();
        let key = idempotency::key(&mut r)?;
        let job = validate::job_hash("job_hash", r.job_hash)?;
        let entropy = validate::fraction("current_entropy", r.current_entropy)?;
        let params = validate::adjustment_params(
            "",
            validate::AdjustmentFields {
                floor: r.floor,
                ceiling: r.ceiling,
                decay_rate: r.decay_rate,
                boost_amount: r.boost_amount,
                entropy_threshold: r.entropy_threshold,
                initial_budget: r.initial_budget,
            },
        )?;
        let write = Write::CalculateAdjustment {
            job,
            current_entropy: entropy,
            params,
        };
        let response = idempotency::write(&*self.store, key, write, |written| match written {
            Written::Budget(record) => Some(pb::CalculateBudgetAdjustmentResponse {
                record: Some(convert::budget_record(record)),
            }),
            _ => None,
        });
        Ok(Response::new(response.await?))
    }

    async fn replay_budget_policy(
        &self,
        request: Request<pb::ReplayBudgetPolicyRequest>,
    ) -> Result<Response<pb::ReplayBudgetPolicyResponse>, Status> {
        let answer = replay::answer(&*self.store, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn get_exploration_budget_statistics(
        &self,
        request: Request<pb::GetExplorationBudgetStatisticsRequest>,
    ) -> Result<Response<pb::GetExplorationBudgetStatisticsResponse>, Status> {
        let job = validate::job_filter(request.into_inner().job_hash)?;
        let s = self.store.budget_statistics(job).await?;
        Ok(Response::new(pb::GetExplorationBudgetStatisticsResponse {
            current_budget: s.current_budget,
            avg_budget: s.avg_budget,
            min_budget: s.min_budget,
            max_budget: s.max_budget,
            total_adjustments: s.total_adjustments,
            floor_enforcements: s.floor_enforcements,
            boost_count: s.boost_count,
            decay_count: s.decay_count,
            ceiling_enforcements: s.ceiling_enforcements,
            initial_count: s.initial_count,
        }))
    }
}
