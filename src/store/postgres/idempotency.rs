//! Idempotency keys on PostgreSQL, in the transaction of the write. The key
//! is claimed first with an insert on its primary key: a concurrent retry of
//! the same request on another replica blocks on that insert until the first
//! transaction ends, then finds the committed key (and replays its response)
//! or, if the first rolled back, claims the key itself. One write, whatever
//! the number of replicas the retries reach.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::{
    ops, sql,
    tx::{Tail, TxResult},
};
use crate::domain::explanation::Provenance;
use crate::store::{Idempotent, StoreError, Write, WriteOutcome};

/// Sortable UTC text, so that pruning can compare it.
fn created_at_text(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub async fn run_once(
    c: &impl GenericClient,
    tail: &Tail,
    once: &Idempotent,
    write: &Write,
    provenance: &Provenance,
) -> TxResult<WriteOutcome> {
    let key = &once.key;
    let claimed = sql::execute(
        c,
        "INSERT INTO ls_idempotency (request_id, rpc, request_digest, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (request_id) DO NOTHING",
        &[
            &key.request_id,
            &key.rpc,
            &key.digest,
            &created_at_text(Utc::now()),
        ],
    )
    .await?;
    if claimed == 0 {
        let row = sql::query_one(
            c,
            "SELECT rpc, request_digest, response FROM ls_idempotency WHERE request_id = $1",
            &[&key.request_id],
        )
        .await?;
        let (rpc, digest): (String, Vec<u8>) = (row.try_get(0)?, row.try_get(1)?);
        if rpc != key.rpc || digest != key.digest {
            return Err(StoreError::request_id_reused().into());
        }
        let response: Option<Vec<u8>> = row.try_get(2)?;
        let response = response
            .ok_or_else(|| StoreError::internal("a committed request_id has no response"))?;
        tracing::debug!(request_id = %key.request_id, rpc, "replayed a stored response");
        return Ok(WriteOutcome::Replayed(response));
    }
    let written = ops::run(c, tail, write, provenance).await?;
    tail.push(
        "UPDATE ls_idempotency SET response = $2 WHERE request_id = $1",
        vec![
            Box::new(key.request_id.clone()),
            Box::new((once.encode)(&written)),
        ],
    );
    Ok(WriteOutcome::Written(written))
}

/// Deletes up to `batch` keys created before `before`; returns how many.
pub async fn prune(c: &impl GenericClient, before: DateTime<Utc>, batch: usize) -> TxResult<usize> {
    let deleted = sql::execute(
        c,
        "DELETE FROM ls_idempotency WHERE request_id IN (SELECT request_id FROM ls_idempotency \
         WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
        &[&created_at_text(before), &(batch as i64)],
    )
    .await?;
    Ok(deleted as usize)
}
