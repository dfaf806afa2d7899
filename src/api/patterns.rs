//! learning.v1.PatternService.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{convert, idempotency, page_token, validate};
use crate::{
    domain::records::{NewPattern, QuarantineStatus},
    pb::{self, pattern_service_server::PatternService},
    store::{Store, Write, Written},
};

pub struct PatternApi {
    store: Arc<dyn Store>,
}

impl PatternApi {
    pub fn new(store: Arc<dyn Store>) -> Self {
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
            instrument_name: match r.instrument_name {
                Some(name) if !name.is_empty() => {
                    Some(validate::required_id("instrument_name", name)?)
                }
                _ => None,
            },
        };
        let write = Write::RecordPattern(new);
        let response = idempotency::write(&*self.store, key, write, |written| match written {
            Written::Pattern(pattern) => Some(pb::RecordPatternResponse {
                pattern: Some(convert::pattern(pattern)),
            }),
            _ => None,
        });
        Ok(Response::new(response.await?))
    }

    async fn record_pattern_application(
        &self,
        request: Request<pb::RecordPatternApplicationRequest>,
    ) -> Result<Response<pb::RecordPatternApplicationResponse>, Status> {
        let mut r = request.into_inner();
        let key = idempotency::key(&mut r)?;
        let pattern_id = validate::required_id("pattern_id", r.pattern_id)?;
        let execution_id = validate::required_id("execution_id", r.execution_id)?;
        let write = Write::RecordApplication {
            pattern_id,
            execution_id,
            led_to_success: r.pattern_led_to_success,
        };
        let response = idempotency::write(&*self.store, key, write, |written| match written {
            Written::Application { id, count } => Some(pb::RecordPatternApplicationResponse {
                application_id: id,
                application_count: count,
            }),
            _ => None,
        });
        Ok(Response::new(response.await?))
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
        let write = Write::SetQuarantineStatus {
            pattern_id,
            status,
            reason,
        };
        let response = idempotency::write(&*self.store, key, write, |written| match written {
            Written::Pattern(pattern) => Some(pb::SetPatternQuarantineStatusResponse {
                pattern: Some(convert::pattern(pattern)),
            }),
            _ => None,
        });
        Ok(Response::new(response.await?))
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
