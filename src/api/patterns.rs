//! learning.v1.PatternService.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{convert, idempotency, page_token, validate};
use crate::{
    domain::records::{NewPattern, QuarantineStatus},
    pb::{self, pattern_service_server::PatternService},
    store::{Store, ops},
};

pub struct PatternApi {
    store: Arc<Store>,
}

impl PatternApi {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl PatternService for PatternApi {
    async fn record_pattern(
        &self,
        request: Request<pb::RecordPatternRequest>,
    ) -> Result<Response<pb::RecordPatternResponse>, Status> {
        let mut r = request.into_inner();
        let key = idempotency::key(&mut r)?;
        let new = NewPattern {
            pattern_type: validate::required_id("pattern_type", r.pattern_type)?,
            pattern_name: validate::required_id("pattern_name", r.pattern_name)?,
            description: validate::text("description", r.description)?,
            quarantine_status: match r.quarantine_status {
                None => QuarantineStatus::Pending,
                Some(s) => convert::requested_quarantine_status("quarantine_status", s)?,
            },
        };
        let op = ops::record_pattern(new).map(|pattern| pb::RecordPatternResponse {
            pattern: Some(convert::pattern(pattern)),
        });
        Ok(Response::new(self.store.write_idempotent(key, op).await?))
    }

    async fn record_pattern_application(
        &self,
        request: Request<pb::RecordPatternApplicationRequest>,
    ) -> Result<Response<pb::RecordPatternApplicationResponse>, Status> {
        let mut r = request.into_inner();
        let key = idempotency::key(&mut r)?;
        let pattern_id = validate::required_id("pattern_id", r.pattern_id)?;
        let execution_id = validate::required_id("execution_id", r.execution_id)?;
        let op = ops::record_application(pattern_id, execution_id, r.pattern_led_to_success).map(
            |(application_id, application_count)| pb::RecordPatternApplicationResponse {
                application_id,
                application_count,
            },
        );
        Ok(Response::new(self.store.write_idempotent(key, op).await?))
    }

    async fn set_pattern_quarantine_status(
        &self,
        request: Request<pb::SetPatternQuarantineStatusRequest>,
    ) -> Result<Response<pb::SetPatternQuarantineStatusResponse>, Status> {
        let mut r = request.into_inner();
        let key = idempotency::key(&mut r)?;
        let pattern_id = validate::required_id("pattern_id", r.pattern_id)?;
        let status = convert::requested_quarantine_status("status", r.status)?;
        let reason = validate::text("reason", r.reason)?;
        let op = ops::set_quarantine_status(pattern_id, status, reason).map(|pattern| {
            pb::SetPatternQuarantineStatusResponse {
                pattern: Some(convert::pattern(pattern)),
            }
        });
        Ok(Response::new(self.store.write_idempotent(key, op).await?))
    }

    async fn list_patterns(
        &self,
        request: Request<pb::ListPatternsRequest>,
    ) -> Result<Response<pb::ListPatternsResponse>, Status> {
        let r = request.into_inner();
        let status = match r.status {
            None => None,
            Some(s) if s == pb::QuarantineStatus::Unspecified as i32 => None,
            Some(s) => Some(convert::requested_quarantine_status("status", s)?),
        };
        let limit = validate::limit(r.limit)?;
        let after = page_token::after(&r.page_token)?;
        let page = self.store.list_patterns(status, limit, after).await?;
        Ok(Response::new(pb::ListPatternsResponse {
            patterns: page.items.into_iter().map(convert::pattern).collect(),
            next_page_token: page_token::encode(page.next),
        }))
    }
}
