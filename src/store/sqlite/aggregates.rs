//! Aggregates kept in tables of our own (`ls_` prefix) by SQLite triggers on
//! the original tables, so that statistics and the entropy population cost
//! O(1) and O(patterns) instead of a scan of the whole history.
//!
//! Triggers, not application code, keep them: rows that another program (the
//! original Python store, plain SQL) inserts, deletes or updates are counted
//! too. The original store keeps opening and writing the file, so the
//! triggers use only SQL that SQLite 3.40 understands, write only `ls_`
//! tables, and cannot fail an insert of the original: no NOT NULL or CHECK
//! constraint that a value of an original row could break, upserts instead of
//! plain inserts, NULL-safe arithmetic.
//!
//! Sums use the same Kahan-Babuska-Neumaier steps as SQLite's own SUM/AVG
//! (3.43+), in insertion order, so an average matches SQLite's AVG over the
//! same rows; after deletes, or after the backfill of an existing file, it may
//! differ from a fresh AVG in the last bits.
//!
//! Rows that the service cannot read (see `cells`: a budget value that is
//! not a number, a NULL job in a file created without `NOT NULL`, ...) are
//! left out of the lists, so they are left out of the aggregates too: each
//! table has one SQL condition (`budget_readable` and `response_readable` in
//! `aggregate_triggers`, which holds the triggers' SQL) that says the same as
//! its reader.
//!
//! MIN/MAX cannot be kept through a delete incrementally. A delete that
//! removes a row holding the minimum or maximum marks the row `minmax_stale`;
//! readers then compute MIN/MAX from the job's rows, and the next open
//! repairs it. The original only deletes through `clear_all`, which empties a
//! job entirely, and an emptied job's row is removed, so this stays rare.

use rusqlite::{Connection, OptionalExtension};

use super::aggregate_triggers::{TRIGGERS, backfill, create_triggers, repair_stale};
use super::population_log;
use crate::store::StoreResult;

/// Bump when the tables or triggers below change: the next open rebuilds them
/// and backfills from the original tables.
const VERSION: i64 = 4;

const TABLES: &[&str] = &[
    "ls_budget_stats",
    "ls_response_stats",
    "ls_pattern_app_counts",
    population_log::TABLE,
];

/// Key in `ls_meta` of the entropy population's version: triggers bump it on
/// every change of a pattern id or of an application count, whoever writes
/// (this service or another program), so an entropy computed at a version
/// holds for as long as the version does; they log which patterns changed
/// at which version too (see `population_log`).
pub(super) const POPULATION_VERSION: &str = "population_version";

/// Key of the row that aggregates every job.
pub(super) const ALL_JOBS: (i64, &str) = (1, "");

/// The key of a job's aggregate row, or of the all-jobs row for None.
pub(super) fn stats_key(job: Option<&str>) -> (i64, &str) {
    job.map_or(ALL_JOBS, |job| (0, job))
}

const CREATE_TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS ls_meta (
    key TEXT PRIMARY KEY,
    value INTEGER
);
-- One row per job (all_jobs = 0) and one for every job together (all_jobs = 1, job_hash '').
CREATE TABLE ls_budget_stats (
    all_jobs INTEGER NOT NULL,
    job_hash TEXT NOT NULL,
    n INTEGER,
    value_sum REAL,
    value_err REAL,
    min_value REAL,
    max_value REAL,
    minmax_stale INTEGER,
    floor_enforced INTEGER,
    boost INTEGER,
    decay INTEGER,
    ceiling_enforced INTEGER,
    initial INTEGER,
    PRIMARY KEY (all_jobs, job_hash)
) WITHOUT ROWID;
CREATE TABLE ls_response_stats (
    all_jobs INTEGER NOT NULL,
    job_hash TEXT NOT NULL,
    n INTEGER,
    entropy_sum REAL,
    entropy_err REAL,
    budget_boosts INTEGER,
    quarantine_revisits REAL,
    PRIMARY KEY (all_jobs, job_hash)
) WITHOUT ROWID;
-- Applications per pattern id, orphans included (the join with patterns drops them).
CREATE TABLE ls_pattern_app_counts (
    pattern_id TEXT PRIMARY KEY,
    n INTEGER
) WITHOUT ROWID;
"#;

/// A number of the service's own tables, None for NULL or anything else
/// (another program may have written them too).
pub(super) fn number(row: &rusqlite::Row, index: usize) -> Option<f64> {
    row.get_ref(index).ok().and_then(super::cells::number)
}

/// A kept sum with its error term, combined as SQLite's AVG does.
pub(super) fn kbn_total(sum: Option<f64>, err: Option<f64>) -> f64 {
    let sum = sum.unwrap_or(0.0);
    match err {
        Some(err) if err.is_finite() => sum + err,
        _ => sum,
    }
}

fn installed_version(connection: &Connection) -> StoreResult<Option<i64>> {
    let has_meta: bool = connection.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ls_meta')",
        [],
        |row| row.get(0),
    )?;
    if !has_meta {
        return Ok(None);
    }
    meta_value(connection, "aggregates_version")
}

/// A value of `ls_meta` (None when its row is missing or not a whole number).
pub(super) fn meta_value(connection: &Connection, key: &str) -> StoreResult<Option<i64>> {
    Ok(connection
        .prepare_cached("SELECT value FROM ls_meta WHERE key = ?1")?
        .query_row([key], |row| {
            Ok(row.get_ref(0).ok().and_then(super::cells::whole_number))
        })
        .optional()?
        .flatten())
}

/// Whether every table and trigger of `names` exists.
pub(super) fn all_present(connection: &Connection, names: &[&str]) -> StoreResult<bool> {
    let mut statement =
        connection.prepare("SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = ?1)")?;
    for name in names {
        if !statement.query_row([name], |row| row.get::<_, bool>(0))? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Creates (or rebuilds) the aggregate tables and their triggers and fills
/// them from the rows already there. Runs inside the caller's transaction,
/// so writers of other programs wait and nothing is counted twice or missed.
pub(super) fn ensure(connection: &Connection) -> StoreResult<()> {
    if installed_version(connection)? == Some(VERSION)
        && all_present(connection, &[TABLES, TRIGGERS].concat())?
    {
        connection.execute_batch(&repair_stale())?;
        return Ok(());
    }
    for name in TRIGGERS {
        connection.execute_batch(&format!("DROP TRIGGER IF EXISTS {name};"))?;
    }
    for name in TABLES {
        connection.execute_batch(&format!("DROP TABLE IF EXISTS {name};"))?;
    }
    connection.execute_batch(CREATE_TABLES)?;
    connection.execute_batch(population_log::CREATE)?;
    connection.execute_batch(&create_triggers())?;
    connection.execute_batch(&backfill())?;
    connection.execute(
        "INSERT INTO ls_meta (key, value) VALUES ('aggregates_version', ?1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [VERSION],
    )?;
    connection.execute(
        "INSERT INTO ls_meta (key, value) VALUES (?1, 0) ON CONFLICT (key) DO NOTHING",
        [POPULATION_VERSION],
    )?;
    // Counts and log start again: an entropy cached at a version of the
    // old ones no longer holds.
    connection.execute(
        "INSERT INTO ls_meta (key, value) VALUES (?1, random()) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [population_log::POPULATION_GENERATION],
    )?;
    Ok(())
}

/// A file of the original's schema in memory, with the aggregates: for the
/// tests of this folder's triggers.
#[cfg(test)]
pub(super) fn original_file_in_memory() -> Connection {
    let connection = Connection::open_in_memory().unwrap();
    connection
        .execute_batch(include_str!("../../../tests/fixtures/original_schema.sql"))
        .unwrap();
    ensure(&connection).unwrap();
    connection
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Connection {
        original_file_in_memory()
    }

    fn budget_row(connection: &Connection, job: &str) -> (i64, f64, f64, f64) {
        connection
            .query_row(
                "SELECT n, value_sum + value_err, min_value, max_value FROM ls_budget_stats \
                 WHERE all_jobs = 0 AND job_hash = ?1",
                [job],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap()
    }

    #[test]
    fn running_average_matches_sqlite_avg_bit_for_bit() {
        let c = store();
        let values = [0.15, 0.25, 0.2, 0.05, 0.1, 1e-17, 0.3, 0.45, 0.07];
        for (i, v) in values.iter().enumerate() {
            c.execute(
                "INSERT INTO exploration_budget VALUES (?1, 'J', 't', ?2, NULL, 'boost', NULL)",
                rusqlite::params![format!("id-{i}"), v],
            )
            .unwrap();
        }
        let (n, sum, min, max) = budget_row(&c, "J");
        let avg: f64 = c
            .query_row(
                "SELECT AVG(budget_value) FROM exploration_budget",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, values.len() as i64);
        assert_eq!(sum / n as f64, avg);
        assert_eq!((min, max), (1e-17, 0.45));
    }

    #[test]
    fn deleting_every_row_removes_the_aggregate_rows() {
        let c = store();
        c.execute_batch(
            "INSERT INTO exploration_budget VALUES ('a', 'J', 't', 0.1, NULL, 'boost', NULL);
             INSERT INTO entropy_responses VALUES ('r', 'J', 't', 0.1, 0.3, '[]', 1, 2, '[]');
             INSERT INTO pattern_applications (id, pattern_id) VALUES ('x', 'p');
             DELETE FROM exploration_budget; DELETE FROM entropy_responses;
             DELETE FROM pattern_applications;",
        )
        .unwrap();
        for table in TABLES.iter().filter(|t| **t != population_log::TABLE) {
            let rows: i64 = c
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(rows, 0, "{table}");
        }
        // The log keeps one row per pattern id, at its last change.
        assert_eq!(logged(&c), vec![("p".into(), 2)]);
    }

    fn logged(c: &Connection) -> Vec<(String, i64)> {
        c.prepare("SELECT quote(pattern_id), seq FROM ls_population_changes ORDER BY seq, 1")
            .unwrap()
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?.replace('\'', ""), r.get(1)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn population_version(c: &Connection) -> i64 {
        meta_value(c, POPULATION_VERSION).unwrap().unwrap()
    }

    /// Each change of the population bumps the version once and logs every
    /// pattern id it concerns at that version; an id that is not text is
    /// logged as the integer 0; a change that concerns no pattern, nothing.
    #[test]
    fn triggers_log_each_changed_pattern_at_its_version() {
        let c = store();
        c.execute_batch(
            "INSERT INTO patterns (id, pattern_type, pattern_name) VALUES ('a', 't', 'n');
             INSERT INTO pattern_applications (id, pattern_id) VALUES ('x', 'a'), ('y', 'b');
             INSERT INTO pattern_applications (id, pattern_id) VALUES ('z', NULL);",
        )
        .unwrap();
        assert_eq!(population_version(&c), 3);
        assert_eq!(logged(&c), vec![("a".into(), 2), ("b".into(), 3)]);
        c.execute_batch(
            "UPDATE pattern_applications SET pattern_id = 'c' WHERE id = 'x';
             UPDATE pattern_applications SET execution_id = 'e';
             UPDATE patterns SET quarantine_status = 'retired';
             UPDATE patterns SET id = 'd' WHERE id = 'a';",
        )
        .unwrap();
        assert_eq!(population_version(&c), 5);
        assert_eq!(
            logged(&c),
            vec![
                ("b".into(), 3),
                ("c".into(), 4),
                ("a".into(), 5),
                ("d".into(), 5)
            ]
        );
        c.execute_batch(
            "INSERT INTO patterns (id, pattern_type, pattern_name) VALUES (NULL, 't', 'n');
             INSERT INTO pattern_applications (id, pattern_id) VALUES ('w', x'00');",
        )
        .unwrap();
        assert_eq!(population_version(&c), 7);
        assert_eq!(&logged(&c)[4..], &[("0".into(), 7)]);
    }

    #[test]
    fn a_partial_delete_of_the_minimum_marks_it_stale_and_open_repairs_it() {
        let c = store();
        c.execute_batch(
            "INSERT INTO exploration_budget VALUES ('a', 'J', 't', 0.1, NULL, 'boost', NULL);
             INSERT INTO exploration_budget VALUES ('b', 'J', 't', 0.3, NULL, 'decay', NULL);
             DELETE FROM exploration_budget WHERE id = 'a';",
        )
        .unwrap();
        let stale: i64 = c
            .query_row(
                "SELECT minmax_stale FROM ls_budget_stats WHERE all_jobs = 0",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stale, 1);
        ensure(&c).unwrap();
        assert_eq!(budget_row(&c, "J"), (1, 0.3, 0.3, 0.3));
    }

    /// Rows the readers leave out are left out of the aggregates, through
    /// inserts, updates and deletes, and in the backfill.
    #[test]
    fn unreadable_rows_are_not_counted() {
        let c = store();
        c.execute_batch(
            "INSERT INTO exploration_budget VALUES ('a', 'J', 't', 0.1, NULL, 'boost', NULL);
             INSERT INTO exploration_budget VALUES ('x', 'J', 't', 'abc', NULL, 'boost', NULL);
             INSERT INTO exploration_budget VALUES ('y', 'J', 't', x'01', NULL, 'boost', NULL);
             INSERT INTO entropy_responses VALUES ('r', 'J', 't', 'high', 0.3, '[]', 1, 2, '[]');",
        )
        .unwrap();
        assert_eq!(budget_row(&c, "J"), (1, 0.1, 0.1, 0.1));
        let responses: i64 = c
            .query_row("SELECT COUNT(*) FROM ls_response_stats", [], |r| r.get(0))
            .unwrap();
        assert_eq!(responses, 0);
        c.execute_batch(
            "UPDATE exploration_budget SET budget_value = 0.3 WHERE id = 'x';
             DELETE FROM exploration_budget WHERE id = 'y';",
        )
        .unwrap();
        assert_eq!(budget_row(&c, "J"), (2, 0.4, 0.1, 0.3));
        c.execute_batch("UPDATE exploration_budget SET budget_value = 'n/a' WHERE id = 'a';")
            .unwrap();
        let (n, sum, _, _) = budget_row(&c, "J");
        assert_eq!((n, sum), (1, 0.3));
        // The backfill of an existing file agrees.
        for name in TABLES {
            c.execute_batch(&format!("DROP TABLE {name};")).unwrap();
        }
        c.execute_batch("DELETE FROM ls_meta").unwrap();
        ensure(&c).unwrap();
        assert_eq!(budget_row(&c, "J"), (1, 0.3, 0.3, 0.3));
    }

    #[test]
    fn backfill_counts_existing_rows_once() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(include_str!("../../../tests/fixtures/original_schema.sql"))
            .unwrap();
        c.execute_batch(
            "INSERT INTO exploration_budget VALUES ('a', 'J', 't', 0.1, NULL, 'boost', NULL);
             INSERT INTO exploration_budget VALUES ('b', 'K', 't', 0.3, NULL, 'decay', NULL);
             INSERT INTO pattern_applications (id, pattern_id) VALUES ('x', 'p'), ('y', 'p'),
                 ('z', NULL), (NULL, 'p');",
        )
        .unwrap();
        ensure(&c).unwrap();
        ensure(&c).unwrap();
        assert_eq!(budget_row(&c, "J"), (1, 0.1, 0.1, 0.1));
        let all: i64 = c
            .query_row(
                "SELECT n FROM ls_budget_stats WHERE all_jobs = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(all, 2);
        let applied: i64 = c
            .query_row(
                "SELECT n FROM ls_pattern_app_counts WHERE pattern_id = 'p'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(applied, 2);
    }
}
