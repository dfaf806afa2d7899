//! Diversity of a window and/or a scope, and the effective numbers kept
//! beside recorded snapshots, in tables of our own:
//!
//! * `ls_application_minutes` / `ls_application_hours`: applications per
//!   pattern id per minute and per hour of `applied_at` (Unix epoch, UTC),
//!   kept by triggers on `pattern_applications` as the aggregates are (see
//!   `aggregates` for the rules a trigger on the original's tables follows),
//!   so they stay exact when the original store writes applications into
//!   the same file. A windowed reading sums at most
//!   [`MAX_BUCKETS`](crate::domain::diversity::MAX_BUCKETS) rows per pattern.
//! * `ls_snapshot_diversity`: perplexity and inverse Simpson of a recorded
//!   snapshot, keyed by its id (rows of the original store have none), and
//!   deleted with it by a trigger.
//!
//! `applied_at` is the original's naive local time; SQLite's `utc` modifier
//! turns it into UTC with the same time zone the service's clock uses. A
//! time with an offset is taken as it says. An application whose time is
//! missing or unreadable counts in all-time readings, never in a window.

use chrono::Utc;
use rusqlite::{Connection, params};

use super::{
    aggregate_triggers::trigger,
    aggregates::{all_present, meta_value},
    patterns,
};
use crate::domain::{
    diversity::{DiversityQuery, PatternScope, WindowBuckets},
    entropy::PopulationEntropy,
};
use crate::store::StoreResult;

/// Bump when the tables or triggers below change: the next open rebuilds
/// them and backfills from `pattern_applications`.
const VERSION: i64 = 2;
const VERSION_KEY: &str = "diversity_version";

const TABLES: &[&str] = &[
    "ls_application_minutes",
    "ls_application_hours",
    "ls_snapshot_diversity",
];

const TRIGGERS: &[&str] = &[
    "ls_window_insert",
    "ls_window_delete",
    "ls_window_update",
    "ls_snapshot_diversity_delete",
];

/// The buckets, rebuilt from the applications whenever VERSION changes.
const CREATE_BUCKETS: &str = "
CREATE TABLE ls_application_minutes (
    pattern_id TEXT NOT NULL,
    minute INTEGER NOT NULL,
    n INTEGER,
    PRIMARY KEY (pattern_id, minute)
) WITHOUT ROWID;
CREATE TABLE ls_application_hours (
    pattern_id TEXT NOT NULL,
    hour INTEGER NOT NULL,
    n INTEGER,
    PRIMARY KEY (pattern_id, hour)
) WITHOUT ROWID;
-- Covering (the key's pattern_id is in every index entry): short windows
-- read their rows by time.
CREATE INDEX ls_application_minutes_time ON ls_application_minutes (minute, n);
CREATE INDEX ls_application_hours_time ON ls_application_hours (hour, n);
";

/// Kept across rebuilds: the effective numbers cannot be computed again.
const CREATE_SNAPSHOT_DIVERSITY: &str = "
CREATE TABLE IF NOT EXISTS ls_snapshot_diversity (
    snapshot_id TEXT PRIMARY KEY,
    perplexity REAL,
    inverse_simpson REAL
) WITHOUT ROWID;
";

/// The minute (since the epoch, UTC) of `row`'s `applied_at`, or NULL.
fn minute_of(row: &str) -> String {
    let at = format!("{row}.applied_at");
    format!(
        "(CASE WHEN typeof({at}) = 'text' THEN CAST(strftime('%s', {at}, \
         CASE WHEN substr({at}, 20) GLOB '*[+-]*' OR {at} GLOB '*Z' THEN '+0 seconds' \
         ELSE 'utc' END) AS INTEGER) / 60 END)"
    )
}

/// The rows the original counts (`COUNT(a.id)` of a known pattern id) and
/// that have a readable time.
fn counted(row: &str) -> String {
    format!("{row}.pattern_id IS NOT NULL AND {row}.id IS NOT NULL")
}

fn buckets_add(row: &str) -> String {
    let minute = minute_of(row);
    let counted = counted(row);
    [
        ("ls_application_minutes", "minute", "m"),
        ("ls_application_hours", "hour", "m / 60"),
    ]
    .iter()
    .map(|(table, column, value)| {
        format!(
            "INSERT INTO {table} (pattern_id, {column}, n) \
                 SELECT {row}.pattern_id, {value}, 1 FROM (SELECT {minute} AS m) \
                 WHERE {counted} AND m IS NOT NULL \
                 ON CONFLICT (pattern_id, {column}) DO UPDATE SET n = coalesce(n, 0) + 1;\n"
        )
    })
    .collect()
}

fn buckets_remove(row: &str) -> String {
    let minute = minute_of(row);
    let counted = counted(row);
    [
        ("ls_application_minutes", "minute", minute.clone()),
        ("ls_application_hours", "hour", format!("{minute} / 60")),
    ]
    .iter()
    .map(|(table, column, value)| {
        format!(
            "UPDATE {table} SET n = n - 1 \
                 WHERE pattern_id = {row}.pattern_id AND {column} = {value} AND {counted};\n\
                 DELETE FROM {table} WHERE pattern_id = {row}.pattern_id AND {column} = {value} \
                 AND NOT n > 0;\n"
        )
    })
    .collect()
}

fn create_triggers() -> String {
    let applications = "pattern_applications";
    [
        trigger(
            "ls_window_insert",
            "INSERT",
            applications,
            &buckets_add("NEW"),
        ),
        trigger(
            "ls_window_delete",
            "DELETE",
            applications,
            &buckets_remove("OLD"),
        ),
        trigger(
            "ls_window_update",
            "UPDATE OF id, pattern_id, applied_at",
            applications,
            &(buckets_remove("OLD") + &buckets_add("NEW")),
        ),
        trigger(
            "ls_snapshot_diversity_delete",
            "DELETE",
            "pattern_entropy_history",
            "DELETE FROM ls_snapshot_diversity WHERE snapshot_id = OLD.id;\n",
        ),
    ]
    .concat()
}

fn backfill() -> String {
    format!(
        "INSERT INTO ls_application_minutes (pattern_id, minute, n) \
         SELECT pattern_id, m, COUNT(*) FROM \
         (SELECT a.pattern_id, {minute} AS m FROM pattern_applications a WHERE {counted}) \
         WHERE m IS NOT NULL GROUP BY pattern_id, m;\n\
         INSERT INTO ls_application_hours (pattern_id, hour, n) \
         SELECT pattern_id, minute / 60, SUM(n) FROM ls_application_minutes \
         GROUP BY pattern_id, minute / 60;\n",
        minute = minute_of("a"),
        counted = counted("a"),
    )
}

/// Creates (or rebuilds) the tables and triggers, and fills the buckets
/// from the applications already there, in the caller's transaction (after
/// `aggregates::ensure`, which creates `ls_meta`). A rebuild keeps the
/// effective numbers of recorded snapshots.
pub(super) fn ensure(connection: &Connection) -> StoreResult<()> {
    if meta_value(connection, VERSION_KEY)? == Some(VERSION)
        && all_present(connection, &[TABLES, TRIGGERS].concat())?
    {
        return Ok(());
    }
    for name in TRIGGERS {
        connection.execute_batch(&format!("DROP TRIGGER IF EXISTS {name};"))?;
    }
    connection.execute_batch(
        "DROP TABLE IF EXISTS ls_application_minutes; DROP TABLE IF EXISTS ls_application_hours;",
    )?;
    connection.execute_batch(CREATE_BUCKETS)?;
    connection.execute_batch(CREATE_SNAPSHOT_DIVERSITY)?;
    connection.execute_batch(&create_triggers())?;
    connection.execute_batch(&backfill())?;
    connection.execute(
        "INSERT INTO ls_meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![VERSION_KEY, VERSION],
    )?;
    Ok(())
}

/// The condition of a scope on `patterns` (named `table`), bound as
/// parameters `first` (type) and `first + 1` (instrument): NULL means any.
pub(super) fn scope_condition(table: &str, first: usize) -> String {
    format!(
        "(?{first} IS NULL OR {table}.pattern_type = ?{first}) \
         AND (?{second} IS NULL OR {table}.instrument_name = ?{second})",
        second = first + 1
    )
}

/// The parameters of [`scope_condition`].
pub(super) fn scope_params(scope: &PatternScope) -> (Option<&str>, Option<&str>) {
    (
        scope.pattern_type.as_deref(),
        scope.instrument_name.as_deref(),
    )
}

/// Windows shorter than this read the buckets of the window by time (few
/// rows: a short window holds few of them), longer ones seek each pattern's
/// buckets (a long window holds up to 228 per pattern, and grouping them by
/// pattern cost more than the seeks). Measured at 10,000 patterns and 1M
/// applications over 7 days: by time, 1h took a fifth of the seeks' time, 1d
/// about the same, 7d four times more (bench/diversity.sh).
const SHORT_WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Applications per pattern in the window, summed from the window's rows
/// (through the time indexes), as `w`; the select of the counts follows.
const BUCKETS_BY_TIME: &str = "WITH w(pattern_id, n) AS (SELECT pattern_id, SUM(n) FROM \
     (SELECT pattern_id, n FROM ls_application_minutes WHERE minute >= ?1 AND minute < ?2 \
      UNION ALL SELECT pattern_id, n FROM ls_application_hours WHERE hour >= ?3) \
     GROUP BY pattern_id) SELECT coalesce(SUM(w.n), 0)";

/// Applications per pattern in the window, from each pattern's rows.
const BUCKETS_BY_PATTERN: &str = "SELECT coalesce((SELECT SUM(m.n) FROM ls_application_minutes m \
     WHERE m.pattern_id = p.id AND m.minute >= ?1 AND m.minute < ?2), 0) \
     + coalesce((SELECT SUM(h.n) FROM ls_application_hours h \
     WHERE h.pattern_id = p.id AND h.hour >= ?3), 0)";

/// The entropy of `query`'s patterns over `query`'s window. Grouped by id as
/// the all-time reading (see `patterns::population_entropy`), so that with
/// no window and no scope the counts are the same.
pub(super) fn entropy(
    connection: &Connection,
    query: &DiversityQuery,
) -> StoreResult<PopulationEntropy> {
    if query.is_all_time_population() {
        return patterns::population_entropy(connection);
    }
    let (pattern_type, instrument) = scope_params(&query.scope);
    let counts = match query.window {
        None => {
            let sql = format!(
                "SELECT coalesce(SUM(c.n), 0) FROM patterns p \
                 LEFT JOIN ls_pattern_app_counts c ON c.pattern_id = p.id \
                 WHERE {} GROUP BY p.id",
                scope_condition("p", 1)
            );
            connection
                .prepare_cached(&sql)?
                .query_map(params![pattern_type, instrument], |row| {
                    Ok(patterns::application_count(row, 0))
                })?
                .collect::<rusqlite::Result<Vec<i64>>>()?
        }
        Some(window) => {
            let b = WindowBuckets::ending_at(Utc::now(), window);
            let counts = if window < SHORT_WINDOW {
                BUCKETS_BY_TIME
            } else {
                BUCKETS_BY_PATTERN
            };
            let sql = format!(
                "{counts} FROM patterns p {} WHERE {} GROUP BY p.id",
                if window < SHORT_WINDOW {
                    "LEFT JOIN w ON w.pattern_id = p.id"
                } else {
                    ""
                },
                scope_condition("p", 4)
            );
            connection
                .prepare_cached(&sql)?
                .query_map(
                    params![
                        b.first_minute,
                        b.first_hour * 60,
                        b.first_hour,
                        pattern_type,
                        instrument
                    ],
                    |row| Ok(patterns::application_count(row, 0)),
                )?
                .collect::<rusqlite::Result<Vec<i64>>>()?
        }
    };
    Ok(PopulationEntropy::from_counts(counts))
}

/// Stores a recorded snapshot's effective numbers (nothing when it has none).
pub(super) fn record_snapshot(
    connection: &Connection,
    snapshot_id: &str,
    entropy: &PopulationEntropy,
) -> StoreResult<()> {
    if entropy.perplexity.is_none() && entropy.inverse_simpson.is_none() {
        return Ok(());
    }
    connection
        .prepare_cached(
            "INSERT INTO ls_snapshot_diversity (snapshot_id, perplexity, inverse_simpson) \
             VALUES (?1, ?2, ?3)",
        )?
        .execute(params![
            snapshot_id,
            entropy.perplexity,
            entropy.inverse_simpson
        ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch(include_str!("../../../tests/fixtures/original_schema.sql"))
            .unwrap();
        super::super::aggregates::ensure(&connection).unwrap();
        ensure(&connection).unwrap();
        connection
    }

    fn buckets(c: &Connection, table: &str) -> Vec<(String, i64, i64)> {
        let column = if table.ends_with("minutes") {
            "minute"
        } else {
            "hour"
        };
        c.prepare(&format!(
            "SELECT pattern_id, {column}, n FROM {table} ORDER BY pattern_id, {column}"
        ))
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    fn local_minute(text: &str) -> i64 {
        let at = crate::store::time::parse(text).unwrap();
        crate::domain::diversity::minute_of(at)
    }

    /// The triggers agree with the service's own reading of the original's
    /// time text, through inserts, updates and deletes; rows without a
    /// readable time or id are not counted.
    #[test]
    fn triggers_count_applications_per_minute_and_hour() {
        let c = store();
        c.execute_batch(
            "INSERT INTO pattern_applications (id, pattern_id, applied_at) VALUES
                ('a', 'p', '2025-06-01T14:02:11.123456'), ('b', 'p', '2025-06-01T14:02:59'),
                ('c', 'p', '2025-06-01 14:40:00'), ('d', 'q', '2025-06-01T14:02:00+00:00'),
                ('e', 'p', NULL), ('f', 'p', 'yesterday'), (NULL, 'p', '2025-06-01T14:02:00'),
                ('g', NULL, '2025-06-01T14:02:00');",
        )
        .unwrap();
        let m = local_minute("2025-06-01T14:02:11");
        let utc_minute =
            crate::domain::diversity::minute_of("2025-06-01T14:02:00Z".parse().unwrap());
        let late = local_minute("2025-06-01T14:40:00");
        assert_eq!(
            buckets(&c, "ls_application_minutes"),
            vec![
                ("p".into(), m, 2),
                ("p".into(), late, 1),
                ("q".into(), utc_minute, 1)
            ]
        );
        assert_eq!(
            buckets(&c, "ls_application_hours"),
            vec![("p".into(), m / 60, 3), ("q".into(), utc_minute / 60, 1)]
        );
        c.execute_batch(
            "UPDATE pattern_applications SET applied_at = '2025-06-01T14:40:30' WHERE id = 'a';
             DELETE FROM pattern_applications WHERE id = 'b';",
        )
        .unwrap();
        assert_eq!(
            buckets(&c, "ls_application_minutes"),
            vec![("p".into(), late, 2), ("q".into(), utc_minute, 1)]
        );
        // A rebuild from the rows gives the same buckets.
        let before = buckets(&c, "ls_application_hours");
        c.execute_batch("DELETE FROM ls_meta WHERE key = 'diversity_version'")
            .unwrap();
        ensure(&c).unwrap();
        assert_eq!(buckets(&c, "ls_application_hours"), before);
        assert_eq!(buckets(&c, "ls_application_minutes").len(), 2);
    }

    #[test]
    fn a_deleted_snapshot_takes_its_effective_numbers_along() {
        let c = store();
        c.execute_batch(
            "INSERT INTO pattern_entropy_history (id, calculated_at, shannon_entropy, \
             max_possible_entropy, diversity_index, unique_pattern_count, effective_pattern_count, \
             total_applications, dominant_pattern_share) VALUES ('s', 't', 1, 1, 1, 2, 2, 2, 0.5);
             INSERT INTO ls_snapshot_diversity VALUES ('s', 2.0, 2.0);
             DELETE FROM pattern_entropy_history;",
        )
        .unwrap();
        let left: i64 = c
            .query_row("SELECT COUNT(*) FROM ls_snapshot_diversity", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(left, 0);
    }
}
