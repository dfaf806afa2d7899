//! Idempotency keys: a write RPC that carries a `request_id` runs once. Its
//! encoded response is stored under the key in the same savepoint as the
//! write itself, so a crash keeps both or neither, and a retry (even one that
//! races the first call) finds the key and gets the first response back.
//!
//! The table is the service's own (`ls_` prefix); the original store's
//! tables are never altered. Keys are kept at least [`RETENTION`], then
//! pruned in small batches by the writer, between other writes.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError, StoreResult, WriteOp};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS ls_idempotency (
    request_id TEXT PRIMARY KEY,
    rpc TEXT NOT NULL,
    request_digest BLOB NOT NULL,
    response BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ls_idempotency_created ON ls_idempotency(created_at);
"#;

/// How long a key is kept at least.
pub const RETENTION: chrono::Duration = chrono::Duration::hours(24);
/// How often the writer looks for expired keys.
const PRUNE_INTERVAL_SECONDS: i64 = 60;
/// Keys deleted by one prune; small, so that it never delays other writes much.
const PRUNE_BATCH: i64 = 2000;

/// What identifies one logical call: the client's id, the RPC, and a digest
/// of the request without its id (so a reuse for another request is caught).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey {
    request_id: String,
    rpc: &'static str,
    digest: Vec<u8>,
}

impl IdempotencyKey {
    /// `request` is the encoded request with its `request_id` cleared.
    pub fn new(rpc: &'static str, request_id: String, request: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, request)
            .as_ref()
            .to_vec();
        Self {
            request_id,
            rpc,
            digest,
        }
    }
}

/// When the next prune is due (unix seconds); 0 prunes on the first keyed write.
#[derive(Debug, Default)]
pub(super) struct PruneSchedule {
    next_at: AtomicI64,
}

impl PruneSchedule {
    /// True once per interval: the caller then prunes.
    fn take_due(&self, now: i64) -> bool {
        let due = self.next_at.load(Ordering::Relaxed);
        now >= due
            && self
                .next_at
                .compare_exchange(
                    due,
                    now + PRUNE_INTERVAL_SECONDS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// A full batch means more keys have expired: prune again on the next write.
    fn again(&self) {
        self.next_at.store(0, Ordering::Relaxed);
    }
}

/// Sortable UTC text, so that pruning can compare it.
fn created_at_text(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Runs `op` unless the key was used before; in both cases returns the
/// response of the first run. Must run inside the write's savepoint.
fn run_once<R: Message + Default + 'static>(
    connection: &Connection,
    key: &IdempotencyKey,
    op: WriteOp<R>,
) -> StoreResult<R> {
    let stored: Option<(String, Vec<u8>, Vec<u8>)> = connection
        .prepare_cached(
            "SELECT rpc, request_digest, response FROM ls_idempotency WHERE request_id = ?1",
        )?
        .query_row([&key.request_id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    if let Some((rpc, digest, response)) = stored {
        if rpc != key.rpc || digest != key.digest {
            return Err(StoreError::RequestIdReused);
        }
        tracing::debug!(request_id = %key.request_id, rpc, "replayed a stored response");
        return R::decode(response.as_slice()).map_err(|e| {
            StoreError::Internal(format!(
                "stored response of a request_id is unreadable: {e}"
            ))
        });
    }
    let response = op.run(connection)?;
    connection
        .prepare_cached(
            "INSERT INTO ls_idempotency (request_id, rpc, request_digest, response, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            key.request_id,
            key.rpc,
            key.digest,
            response.encode_to_vec(),
            created_at_text(Utc::now()),
        ])?;
    Ok(response)
}

/// Deletes up to `batch` keys created before `before`; returns how many.
fn prune(connection: &Connection, before: DateTime<Utc>, batch: i64) -> StoreResult<usize> {
    Ok(connection
        .prepare_cached(
            "DELETE FROM ls_idempotency WHERE rowid IN (SELECT rowid FROM ls_idempotency \
             WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
        )?
        .execute(params![created_at_text(before), batch])?)
}

impl Store {
    /// Runs `op` on the write path. With a key, at most once: a later call
    /// with the same key returns the first response and writes nothing; the
    /// same key with another RPC or request is refused (RequestIdReused).
    pub async fn write_idempotent<R>(
        &self,
        key: Option<IdempotencyKey>,
        op: WriteOp<R>,
    ) -> StoreResult<R>
    where
        R: Message + Default + Send + 'static,
    {
        let Some(key) = key else {
            return self.write_op(op).await;
        };
        self.prune_idempotency_if_due().await;
        self.write(move |c| run_once(c, &key, op)).await
    }

    /// A failed prune is only logged: it is retried at the next interval.
    async fn prune_idempotency_if_due(&self) {
        let now = Utc::now();
        if !self.idempotency_prune.take_due(now.timestamp()) {
            return;
        }
        let before = now - RETENTION;
        match self.write(move |c| prune(c, before, PRUNE_BATCH)).await {
            Ok(deleted) if deleted as i64 >= PRUNE_BATCH => self.idempotency_prune.again(),
            Ok(deleted) => tracing::debug!(deleted, "pruned expired request ids"),
            Err(error) => tracing::warn!(%error, "cannot prune expired request ids"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        connection.execute_batch(SCHEMA).unwrap();
        connection
    }

    fn op(value: &str) -> WriteOp<String> {
        let value = value.to_owned();
        WriteOp::new(move |c| {
            c.execute("CREATE TABLE IF NOT EXISTS effects (v TEXT)", [])?;
            c.execute("INSERT INTO effects VALUES (?1)", [&value])?;
            Ok(value)
        })
    }

    fn effects(c: &Connection) -> i64 {
        c.query_row("SELECT COUNT(*) FROM effects", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_key_runs_once_and_replays_the_first_response() {
        let c = connection();
        let key = IdempotencyKey::new("rpc/A", "id-1".into(), b"request");
        assert_eq!(run_once(&c, &key, op("first")).unwrap(), "first");
        assert_eq!(run_once(&c, &key, op("second")).unwrap(), "first");
        assert_eq!(effects(&c), 1);
    }

    #[test]
    fn a_key_reused_for_another_request_or_rpc_is_refused() {
        let c = connection();
        let key = IdempotencyKey::new("rpc/A", "id-1".into(), b"request");
        run_once(&c, &key, op("first")).unwrap();
        for other in [
            IdempotencyKey::new("rpc/A", "id-1".into(), b"another request"),
            IdempotencyKey::new("rpc/B", "id-1".into(), b"request"),
        ] {
            assert!(matches!(
                run_once(&c, &other, op("x")),
                Err(StoreError::RequestIdReused)
            ));
        }
        assert_eq!(effects(&c), 1);
    }

    #[test]
    fn a_failed_operation_keeps_no_key() {
        let c = connection();
        let key = IdempotencyKey::new("rpc/A", "id-1".into(), b"request");
        let failing: WriteOp<String> = WriteOp::new(|_| Err(StoreError::Internal("no".into())));
        assert!(run_once(&c, &key, failing).is_err());
        assert_eq!(run_once(&c, &key, op("later")).unwrap(), "later");
    }

    #[test]
    fn prunes_only_expired_keys_in_batches() {
        let c = connection();
        let now = Utc::now();
        for (id, age_hours) in [("old-1", 30), ("old-2", 25), ("old-3", 48), ("new", 1)] {
            c.execute(
                "INSERT INTO ls_idempotency VALUES (?1, 'rpc', x'00', x'', ?2)",
                params![
                    id,
                    created_at_text(now - chrono::Duration::hours(age_hours))
                ],
            )
            .unwrap();
        }
        assert_eq!(prune(&c, now - RETENTION, 2).unwrap(), 2);
        assert_eq!(prune(&c, now - RETENTION, 2).unwrap(), 1);
        assert_eq!(prune(&c, now - RETENTION, 2).unwrap(), 0);
        let left: Vec<String> = c
            .prepare("SELECT request_id FROM ls_idempotency")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(left, vec!["new".to_owned()]);
    }

    #[test]
    fn prune_is_due_once_per_interval() {
        let schedule = PruneSchedule::default();
        assert!(schedule.take_due(1000));
        assert!(!schedule.take_due(1000 + PRUNE_INTERVAL_SECONDS - 1));
        assert!(schedule.take_due(1000 + PRUNE_INTERVAL_SECONDS));
        schedule.again();
        assert!(schedule.take_due(1000 + PRUNE_INTERVAL_SECONDS));
    }
}
