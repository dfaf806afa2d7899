//! The idempotency records of SQLite: the service's own table (`ls_`
//! prefix; the original store's tables are never altered), written in the
//! same savepoint as the write, so a crash keeps both or neither.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{IdempotencyKey, Idempotent, StoreError, StoreResult, WriteOutcome, Written};

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

/// Sortable UTC text, so that pruning can compare it.
fn created_at_text(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The stored response of `key`, if it was used before; a key reused for
/// another RPC or request is refused.
fn stored(connection: &Connection, key: &IdempotencyKey) -> StoreResult<Option<Vec<u8>>> {
    let stored: Option<(String, Vec<u8>, Vec<u8>)> = connection
        .prepare_cached(
            "SELECT rpc, request_digest, response FROM ls_idempotency WHERE request_id = ?1",
        )?
        .query_row([&key.request_id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    match stored {
        None => Ok(None),
        Some((rpc, digest, _)) if rpc != key.rpc || digest != key.digest => {
            Err(StoreError::request_id_reused())
        }
        Some((rpc, _, response)) => {
            tracing::debug!(request_id = %key.request_id, rpc, "replayed a stored response");
            Ok(Some(response))
        }
    }
}

/// Runs `write` unless the key was used before; in both cases answers with
/// the first run. Must run inside the write's savepoint.
pub(super) fn run_once(
    connection: &Connection,
    once: Idempotent,
    write: impl FnOnce(&Connection) -> StoreResult<Written>,
) -> StoreResult<WriteOutcome> {
    if let Some(response) = stored(connection, &once.key)? {
        return Ok(WriteOutcome::Replayed(response));
    }
    let written = write(connection)?;
    let key = &once.key;
    connection
        .prepare_cached(
            "INSERT INTO ls_idempotency (request_id, rpc, request_digest, response, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            key.request_id,
            key.rpc,
            key.digest,
            (once.encode)(&written),
            created_at_text(Utc::now()),
        ])?;
    Ok(WriteOutcome::Written(written))
}

/// Whether a key created before `before` exists (a read: an idle service
/// then prunes without a write transaction).
pub(super) fn any_expired(connection: &Connection, before: DateTime<Utc>) -> StoreResult<bool> {
    Ok(connection
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM ls_idempotency WHERE created_at < ?1)")?
        .query_row([created_at_text(before)], |row| row.get(0))?)
}

/// Deletes up to `batch` keys created before `before`; returns how many.
pub(super) fn prune(
    connection: &Connection,
    before: DateTime<Utc>,
    batch: usize,
) -> StoreResult<usize> {
    Ok(connection
        .prepare_cached(
            "DELETE FROM ls_idempotency WHERE rowid IN (SELECT rowid FROM ls_idempotency \
             WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
        )?
        .execute(params![created_at_text(before), batch as i64])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RETENTION;

    fn connection() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        connection.execute_batch(SCHEMA).unwrap();
        connection
    }

    fn once(key: &IdempotencyKey) -> Idempotent {
        Idempotent {
            key: key.clone(),
            encode: Box::new(|written| match written {
                Written::Application { id, .. } => id.clone().into_bytes(),
                _ => Vec::new(),
            }),
        }
    }

    fn op(value: &str) -> impl FnOnce(&Connection) -> StoreResult<Written> {
        let value = value.to_owned();
        move |c| {
            c.execute("CREATE TABLE IF NOT EXISTS effects (v TEXT)", [])?;
            c.execute("INSERT INTO effects VALUES (?1)", [&value])?;
            Ok(Written::Application {
                id: value,
                count: 1,
            })
        }
    }

    fn answer(outcome: WriteOutcome) -> String {
        match outcome {
            WriteOutcome::Written(Written::Application { id, .. }) => id,
            WriteOutcome::Replayed(bytes) => String::from_utf8(bytes).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    fn effects(c: &Connection) -> i64 {
        c.query_row("SELECT COUNT(*) FROM effects", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_key_runs_once_and_replays_the_first_response() {
        let c = connection();
        let key = IdempotencyKey::new("rpc/A", "id-1".into(), b"request");
        assert_eq!(
            answer(run_once(&c, once(&key), op("first")).unwrap()),
            "first"
        );
        assert_eq!(
            answer(run_once(&c, once(&key), op("second")).unwrap()),
            "first"
        );
        assert_eq!(effects(&c), 1);
    }

    #[test]
    fn a_key_reused_for_another_request_or_rpc_is_refused() {
        let c = connection();
        let key = IdempotencyKey::new("rpc/A", "id-1".into(), b"request");
        run_once(&c, once(&key), op("first")).unwrap();
        for other in [
            IdempotencyKey::new("rpc/A", "id-1".into(), b"another request"),
            IdempotencyKey::new("rpc/B", "id-1".into(), b"request"),
        ] {
            assert_eq!(
                run_once(&c, once(&other), op("x")).unwrap_err(),
                StoreError::request_id_reused()
            );
        }
        assert_eq!(effects(&c), 1);
    }

    #[test]
    fn a_failed_operation_keeps_no_key() {
        let c = connection();
        let key = IdempotencyKey::new("rpc/A", "id-1".into(), b"request");
        let failing = |_: &Connection| Err(StoreError::internal("no"));
        assert!(run_once(&c, once(&key), failing).is_err());
        assert_eq!(
            answer(run_once(&c, once(&key), op("later")).unwrap()),
            "later"
        );
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
}
