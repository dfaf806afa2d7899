//! `ls_budget_versions`: a counter per job (and one for every job together)
//! that triggers on `exploration_budget` bump on every insert, delete and
//! update of any column, whoever writes (this service, the original Python
//! store, plain SQL). A history page read at a version is the page for as
//! long as the version stays, so the gRPC layer keeps encoded pages keyed on
//! it (see `api/history_cache.rs`).
//!
//! The joined explanations (`ls_budget_explanation`) need no trigger: only
//! this service writes them, in the transaction that inserts their record,
//! and a delete or an update of the record's id bumps the version anyway.
//!
//! Rows are never deleted and the table is never rebuilt, so a job's version
//! only grows: a version seen once never comes back with other rows. A job
//! without a row has not changed since the table was created (version 0).
//! The triggers follow the rules of `aggregates`: SQL of SQLite 3.40, upserts,
//! and nothing that can fail a write of the original (rows with a NULL job
//! bump only the all-jobs counter).

use rusqlite::{Connection, OptionalExtension, params};

use super::aggregate_triggers::trigger;
use super::aggregates::{ALL_JOBS, all_present, stats_key};
use crate::store::StoreResult;

const TABLE: &str = "ls_budget_versions";

const TRIGGERS: &[&str] = &[
    "ls_budget_version_insert",
    "ls_budget_version_delete",
    "ls_budget_version_update",
];

const CREATE_TABLE: &str = "
CREATE TABLE IF NOT EXISTS ls_budget_versions (
    all_jobs INTEGER NOT NULL,
    job_hash TEXT NOT NULL,
    version INTEGER,
    PRIMARY KEY (all_jobs, job_hash)
) WITHOUT ROWID;
";

/// Bumps the counters of the job of `row` (`NEW` or `OLD`) and of every job.
fn bump(row: &str) -> String {
    let upsert = |all: i64, job: &str, condition: &str| {
        format!(
            "INSERT INTO {TABLE} (all_jobs, job_hash, version) \
             SELECT {all}, {job}, 1 WHERE {condition} \
             ON CONFLICT (all_jobs, job_hash) DO UPDATE SET version = coalesce(version, 0) + 1;\n"
        )
    };
    upsert(
        0,
        &format!("{row}.job_hash"),
        &format!("{row}.job_hash IS NOT NULL"),
    ) + &upsert(ALL_JOBS.0, &format!("'{}'", ALL_JOBS.1), "1")
}

fn create_triggers() -> String {
    let table = "exploration_budget";
    [
        trigger(TRIGGERS[0], "INSERT", table, &bump("NEW")),
        trigger(TRIGGERS[1], "DELETE", table, &bump("OLD")),
        // Every column: a page shows them all (the reason, the time, ...).
        trigger(TRIGGERS[2], "UPDATE", table, &(bump("OLD") + &bump("NEW"))),
    ]
    .concat()
}

/// Creates the table and its triggers when one is missing, in the caller's
/// transaction (with the other tables of `schema::ensure`).
pub(super) fn ensure(connection: &Connection) -> StoreResult<()> {
    if all_present(connection, &[&[TABLE], TRIGGERS].concat())? {
        return Ok(());
    }
    connection.execute_batch(CREATE_TABLE)?;
    for name in TRIGGERS {
        connection.execute_batch(&format!("DROP TRIGGER IF EXISTS {name};"))?;
    }
    connection.execute_batch(&create_triggers())?;
    Ok(())
}

/// The version of the job's records (of every job's for None) in this read's snapshot.
pub(super) fn budget_version(connection: &Connection, job: Option<&str>) -> StoreResult<i64> {
    let (all_jobs, key) = stats_key(job);
    let version = connection
        .prepare_cached(
            "SELECT version FROM ls_budget_versions WHERE all_jobs = ?1 AND job_hash = ?2",
        )?
        .query_row(params![all_jobs, key], |row| {
            Ok(row.get_ref(0).ok().and_then(super::cells::whole_number))
        })
        .optional()?
        .flatten();
    Ok(version.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Connection {
        let connection = super::super::aggregates::original_file_in_memory();
        ensure(&connection).unwrap();
        connection
    }

    fn versions(c: &Connection) -> (i64, i64, i64) {
        (
            budget_version(c, Some("J")).unwrap(),
            budget_version(c, Some("K")).unwrap(),
            budget_version(c, None).unwrap(),
        )
    }

    /// Every kind of change moves the versions of the jobs it touches and of
    /// every job, and nothing else moves them.
    #[test]
    fn every_change_of_a_job_s_rows_moves_its_version() {
        let c = store();
        assert_eq!(versions(&c), (0, 0, 0));
        let steps: &[(&str, (i64, i64, i64))] = &[
            (
                "INSERT INTO exploration_budget VALUES ('a', 'J', 't', 0.1, NULL, 'boost', NULL)",
                (1, 0, 1),
            ),
            // A column no aggregate looks at.
            (
                "UPDATE exploration_budget SET adjustment_reason = 'why' WHERE id = 'a'",
                (3, 0, 3),
            ),
            ("UPDATE exploration_budget SET job_hash = 'K'", (4, 1, 5)),
            // A row the readers leave out.
            (
                "INSERT INTO exploration_budget VALUES ('b', 'J', 't', 'abc', NULL, 'boost', NULL)",
                (5, 1, 6),
            ),
            ("DELETE FROM exploration_budget", (6, 2, 8)),
            ("SELECT COUNT(*) FROM exploration_budget", (6, 2, 8)),
        ];
        for (sql, expected) in steps {
            c.execute_batch(sql).unwrap();
            assert_eq!(versions(&c), *expected, "{sql}");
        }
        // Opening again keeps the counters (the table is never rebuilt).
        ensure(&c).unwrap();
        assert_eq!(versions(&c), (6, 2, 8));
    }

    /// A missing trigger is put back without resetting the counters.
    #[test]
    fn a_missing_trigger_is_recreated_and_versions_keep_growing() {
        let c = store();
        c.execute_batch(
            "INSERT INTO exploration_budget VALUES ('a', 'J', 't', 0.1, NULL, 'boost', NULL);
             DROP TRIGGER ls_budget_version_update;",
        )
        .unwrap();
        ensure(&c).unwrap();
        c.execute_batch("UPDATE exploration_budget SET recorded_at = 'u'")
            .unwrap();
        assert_eq!(versions(&c), (3, 0, 3));
    }
}
