//! learning.v1.EntropyService.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    convert, diversity, idempotency, page_token,
    subscription::{StreamRequest, SubscriberStream, Subscriptions, stream_message},
    validate,
};
use crate::{
    domain::{
        budget::DEFAULT_ENTROPY_THRESHOLD,
        diversity::DiversityQuery,
        records::{DEFAULT_COOLDOWN_SECONDS, EntropySnapshot, ResponseRecord},
    },
    pb::{self, entropy_service_server::EntropyService},
    store::{Store, StreamFilter, Write, Written},
};

pub struct EntropyApi {
    store: Arc<dyn Store>,
    subscriptions: Arc<Subscriptions>,
}

impl EntropyApi {
    pub fn new(store: Arc<dyn Store>, subscriptions: Arc<Subscriptions>) -> Self {
        Self {
            store,
            subscriptions,
        }
    }
}

stream_message!(
    pb::SubscribePatternEntropyResponse,
    EntropySnapshot,
    "snapshots",
    subscribe_pattern_entropy_response::Snapshot,
    convert::snapshot
);

stream_message!(
    pb::WatchEntropyResponsesResponse,
    ResponseRecord,
    "responses",
    watch_entropy_responses_response::Record,
    convert::response_record
);

/// The validated arguments shared by the check and check-and-respond RPCs.
struct CheckArgs {
    job: String,
    threshold: f64,
    cooldown_seconds: i64,
    diversity: DiversityQuery,
}

fn check_args(
    job_hash: String,
    entropy_threshold: Option<f64>,
    cooldown_seconds: Option<i64>,
    diversity: Result<DiversityQuery, Status>,
) -> Result<CheckArgs, Status> {
    let job = validate::job_hash("job_hash", job_hash)?;
    let threshold = validate::fraction_or(
        "entropy_threshold",
        entropy_threshold,
        DEFAULT_ENTROPY_THRESHOLD,
    )?;
    let cooldown_seconds = match cooldown_seconds {
        None => DEFAULT_COOLDOWN_SECONDS,
        Some(s) if s < 0 => {
            return Err(validate::invalid(
                "cooldown_seconds",
                format!("must not be negative, got {s}"),
            ));
        }
        Some(s) => s,
    };
    Ok(CheckArgs {
        job,
        threshold,
        cooldown_seconds,
        diversity: diversity?,
    })
}

/// The [`CheckArgs`] of a check or check-and-respond request (both name
/// their fields alike).
macro_rules! check_args {
    ($r:expr) => {
        check_args(
            $r.job_hash,
            $r.entropy_threshold,
            $r.cooldown_seconds,
            diversity::query($r.window, $r.pattern_type, $r.instrument_name),
        )
    };
}

#[tonic::async_trait]
impl EntropyService for EntropyApi {
    type SubscribePatternEntropyStream = SubscriberStream<pb::SubscribePatternEntropyResponse>;
    type WatchEntropyResponsesStream = SubscriberStream<pb::WatchEntropyResponsesResponse>;

    async fn subscribe_pattern_entropy(
        &self,
        request: Request<pb::SubscribePatternEntropyRequest>,
    ) -> Result<Response<Self::SubscribePatternEntropyStream>, Status> {
        let r = request.into_inner();
        let exceeded_only = r.threshold_exceeded_only;
        let request = StreamRequest {
            backfill: r.backfill,
            after_cursor: r.after_cursor,
            filter: if exceeded_only {
                StreamFilter::ThresholdExceeded
            } else {
                StreamFilter::All
            },
        };
        let tail = self.subscriptions.feeds.snapshots.clone();
        let stream = self
            .subscriptions
            .open(tail, request, move |snapshot: &EntropySnapshot| {
                !exceeded_only || snapshot.threshold_exceeded
            })
            .await?;
        Ok(Response::new(stream))
    }

    async fn watch_entropy_responses(
        &self,
        request: Request<pb::WatchEntropyResponsesRequest>,
    ) -> Result<Response<Self::WatchEntropyResponsesStream>, Status> {
        let r = request.into_inner();
        let tail = self.subscriptions.feeds.responses.clone();
        let stream = self
            .subscriptions
            .open_for_job(tail, r.job_hash, r.backfill, r.after_cursor)
            .await?;
        Ok(Response::new(stream))
    }

    async fn respond_to_entropy_if_needed(
        &self,
        request: Request<pb::RespondToEntropyIfNeededRequest>,
    ) -> Result<Response<pb::RespondToEntropyIfNeededResponse>, Status> {
        let mut r = request.into_inner();
        let key = idempotency::key(&mut r)?;
        let args = check_args!(r)?;
        let config = convert::response_config(r.config)?;
        let write = Write::RespondIfNeeded {
            job: args.job,
            threshold: args.threshold,
            cooldown_seconds: args.cooldown_seconds,
            config,
            diversity: args.diversity,
            automatic: false,
        };
        let response = idempotency::write(&*self.store, key, write, |written| match written {
            Written::Responded { check, response } => Some(pb::RespondToEntropyIfNeededResponse {
                needs_response: check.needs_response,
                current_entropy: check.current_entropy,
                reason: check.reason,
                cooldown_remaining_seconds: check.cooldown_remaining_seconds,
                response: response.map(convert::response_record),
            }),
            _ => None,
        });
        Ok(Response::new(response.await?))
    }

    async fn check_entropy_response_needed(
        &self,
        request: Request<pb::CheckEntropyResponseNeededRequest>,
    ) -> Result<Response<pb::CheckEntropyResponseNeededResponse>, Status> {
        let r = request.into_inner();
        let args = check_args!(r)?;
        let check = self
            .store
            .check_response_needed(
                args.job,
                args.threshold,
                args.cooldown_seconds,
                args.diversity,
            )
            .await?;
        Ok(Response::new(pb::CheckEntropyResponseNeededResponse {
            needs_response: check.needs_response,
            current_entropy: check.current_entropy,
            reason: check.reason,
            cooldown_remaining_seconds: check.cooldown_remaining_seconds,
        }))
    }

    async fn trigger_entropy_response(
        &self,
        request: Request<pb::TriggerEntropyResponseRequest>,
    ) -> Result<Response<pb::TriggerEntropyResponseResponse>, Status> {
        let mut r = request.into_inner();
        let key = idempotency::key(&mut r)?;
        let context = convert::trigger_context(r.trigger)?;
        let config = convert::response_config(r.config)?;
        let write = Write::TriggerResponse { context, config };
        let response = idempotency::write(&*self.store, key, write, |written| match written {
            Written::Response(record) => Some(pb::TriggerEntropyResponseResponse {
                record: Some(convert::response_record(record)),
            }),
            _ => None,
        });
        Ok(Response::new(response.await?))
    }

    async fn get_last_entropy_response(
        &self,
        request: Request<pb::GetLastEntropyResponseRequest>,
    ) -> Result<Response<pb::GetLastEntropyResponseResponse>, Status> {
        let job = validate::job_filter(request.into_inner().job_hash)?;
        let last = self.store.last_response(job).await?;
        Ok(Response::new(pb::GetLastEntropyResponseResponse {
            response: last.map(convert::response_record),
        }))
    }

    async fn get_entropy_response_history(
        &self,
        request: Request<pb::GetEntropyResponseHistoryRequest>,
    ) -> Result<Response<pb::GetEntropyResponseHistoryResponse>, Status> {
        let r = request.into_inner();
        let job = validate::job_filter(r.job_hash)?;
        let limit = validate::limit(r.limit)?;
        let before = page_token::before(&r.page_token)?;
        let page = self.store.response_history(job, limit, before).await?;
        page_token::refuse_pruned(before, &page)?;
        Ok(Response::new(pb::GetEntropyResponseHistoryResponse {
            records: page
                .items
                .into_iter()
                .map(convert::response_record)
                .collect(),
            next_page_token: page_token::encode(page.next),
        }))
    }

    async fn get_entropy_response_statistics(
        &self,
        request: Request<pb::GetEntropyResponseStatisticsRequest>,
    ) -> Result<Response<pb::GetEntropyResponseStatisticsResponse>, Status> {
        let job = validate::job_filter(request.into_inner().job_hash)?;
        let s = self.store.response_statistics(job).await?;
        Ok(Response::new(pb::GetEntropyResponseStatisticsResponse {
            total_responses: s.total_responses,
            avg_entropy_at_trigger: s.avg_entropy_at_trigger,
            budget_boosts: s.budget_boosts,
            quarantine_revisits: s.quarantine_revisits,
            last_response: s.last_response.map(convert::timestamp),
        }))
    }

    async fn calculate_pattern_entropy(
        &self,
        request: Request<pb::CalculatePatternEntropyRequest>,
    ) -> Result<Response<pb::CalculatePatternEntropyResponse>, Status> {
        let r = request.into_inner();
        let alert_threshold = r
            .alert_threshold
            .map(|t| validate::fraction("alert_threshold", t))
            .transpose()?;
        let query = diversity::query(r.window, r.pattern_type, r.instrument_name)?;
        let entropy = self.store.diversity(query).await?;
        let snapshot = EntropySnapshot {
            id: None,
            calculated_at: Some(chrono::Utc::now()),
            threshold_exceeded: alert_threshold.is_some_and(|t| entropy.diversity_index < t),
            entropy,
        };
        Ok(Response::new(pb::CalculatePatternEntropyResponse {
            metrics: Some(convert::snapshot(snapshot)),
        }))
    }

    async fn record_pattern_entropy(
        &self,
        request: Request<pb::RecordPatternEntropyRequest>,
    ) -> Result<Response<pb::RecordPatternEntropyResponse>, Status> {
        let mut r = request.into_inner();
        let key = idempotency::key(&mut r)?;
        let snapshot = convert::snapshot_to_record(r.metrics)?;
        let write = Write::RecordSnapshot(snapshot);
        let response = idempotency::write(&*self.store, key, write, |written| match written {
            Written::Snapshot(stored) => Some(pb::RecordPatternEntropyResponse {
                id: stored.id.clone().unwrap_or_default(),
                metrics: Some(convert::snapshot(stored)),
            }),
            _ => None,
        });
        Ok(Response::new(response.await?))
    }

    async fn get_pattern_entropy_history(
        &self,
        request: Request<pb::GetPatternEntropyHistoryRequest>,
    ) -> Result<Response<pb::GetPatternEntropyHistoryResponse>, Status> {
        let r = request.into_inner();
        let limit = validate::limit(r.limit)?;
        let page = page_token::before_calculated(&r.page_token)?;
        let page = self.store.snapshot_history(limit, page).await?;
        Ok(Response::new(pb::GetPatternEntropyHistoryResponse {
            records: page.items.into_iter().map(convert::snapshot).collect(),
            next_page_token: page_token::encode(page.next),
        }))
    }
}
