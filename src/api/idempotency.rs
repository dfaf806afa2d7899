//! The `request_id` of the write requests: checked, then turned into the
//! store's idempotency key, with a digest of the rest of the request.

use prost::Message;
use tonic::Status;

use super::validate::invalid;
use crate::{
    pb,
    store::{IdempotencyKey, Idempotent, Store, StoreError, Write, WriteOutcome, Written},
};

/// Longest accepted request_id, in bytes.
pub const MAX_REQUEST_ID_BYTES: usize = 128;

/// A write request with a client-chosen `request_id`.
pub trait Keyed: Message + Sized {
    /// The full method name, stored with the key: the same id used for
    /// another RPC is a different request.
    const RPC: &'static str;

    fn request_id_mut(&mut self) -> &mut String;
}

macro_rules! keyed {
    ($($request:ty => $rpc:literal,)*) => {$(
        impl Keyed for $request {
            const RPC: &'static str = $rpc;

            fn request_id_mut(&mut self) -> &mut String {
                &mut self.request_id
            }
        }
    )*};
}

keyed! {
    pb::UpdateExplorationBudgetRequest => "learning.v1.BudgetService/UpdateExplorationBudget",
    pb::CalculateBudgetAdjustmentRequest => "learning.v1.BudgetService/CalculateBudgetAdjustment",
    pb::TriggerEntropyResponseRequest => "learning.v1.EntropyService/TriggerEntropyResponse",
    pb::RecordPatternEntropyRequest => "learning.v1.EntropyService/RecordPatternEntropy",
    pb::RespondToEntropyIfNeededRequest => "learning.v1.EntropyService/RespondToEntropyIfNeeded",
    pb::RecordPatternRequest => "learning.v1.PatternService/RecordPattern",
    pb::RecordPatternApplicationRequest => "learning.v1.PatternService/RecordPatternApplication",
    pb::SetPatternQuarantineStatusRequest => "learning.v1.PatternService/SetPatternQuarantineStatus",
}

/// Takes the request_id out of `request` and returns its key (None when the
/// id is empty). The digest covers the request without its id, re-encoded by
/// prost, so field order or unknown fields sent by a client do not matter.
pub fn key<R: Keyed>(request: &mut R) -> Result<Option<IdempotencyKey>, Status> {
    let request_id = std::mem::take(request.request_id_mut());
    if request_id.is_empty() {
        return Ok(None);
    }
    if request_id.len() > MAX_REQUEST_ID_BYTES {
        return Err(invalid(
            "request_id",
            format!(
                "must be at most {MAX_REQUEST_ID_BYTES} bytes, got {}",
                request_id.len()
            ),
        ));
    }
    Ok(Some(IdempotencyKey::new(
        R::RPC,
        request_id,
        &request.encode_to_vec(),
    )))
}

/// Runs `write` (at most once under `key`) and answers with the RPC's
/// response: `respond` builds it from what was written, and its encoding is
/// what the store keeps for a retry of the same request.
pub async fn write<R>(
    store: &dyn Store,
    key: Option<IdempotencyKey>,
    write: Write,
    respond: fn(Written) -> Option<R>,
) -> Result<R, Status>
where
    R: Message + Default + 'static,
{
    let once = key.map(|key| Idempotent {
        key,
        encode: Box::new(move |written: &Written| {
            respond(written.clone()).map_or_else(Vec::new, |r| r.encode_to_vec())
        }),
    });
    match store.write(write, once).await? {
        WriteOutcome::Written(written) => respond(written)
            .ok_or_else(|| StoreError::internal("a write answered another kind of record").into()),
        WriteOutcome::Replayed(bytes) => R::decode(bytes.as_slice()).map_err(|e| {
            StoreError::internal(format!(
                "the stored response of a request_id is unreadable: {e}"
            ))
            .into()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(request_id: &str, job: &str) -> pb::UpdateExplorationBudgetRequest {
        pb::UpdateExplorationBudgetRequest {
            job_hash: job.into(),
            request_id: request_id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_digest_ignores_the_id_but_not_the_payload() {
        let a = key(&mut request("id", "job")).unwrap().unwrap();
        assert_eq!(a, key(&mut request("id", "job")).unwrap().unwrap());
        assert_ne!(a, key(&mut request("id", "other")).unwrap().unwrap());
        assert_ne!(a, key(&mut request("id2", "job")).unwrap().unwrap());
    }

    #[test]
    fn empty_means_none_and_long_ids_are_refused() {
        assert_eq!(key(&mut request("", "job")).unwrap(), None);
        assert!(
            key(&mut request(&"x".repeat(128), "job"))
                .unwrap()
                .is_some()
        );
        let status = key(&mut request(&"x".repeat(129), "job")).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().starts_with("request_id:"));
    }
}
