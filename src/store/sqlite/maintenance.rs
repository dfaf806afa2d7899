//! Operator tools on a SQLite file, beside a running service: a consistent
//! online backup (`VACUUM INTO`, one read transaction, so writers go on) and
//! a check of the file (integrity, schema, the `ls_` aggregates against the
//! raw rows, WAL and free pages, row counts, oldest rows). Both open their
//! own connection and never write to the checked or copied database.

use std::{collections::HashMap, path::Path, time::Duration};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::schema;

/// What a backup copied.
#[derive(Clone, Debug, PartialEq)]
pub struct BackupReport {
    pub bytes: u64,
    pub rows: Vec<(String, i64)>,
}

/// What a check found; `problems` is empty for a good file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckReport {
    pub schema_version: Option<i64>,
    pub integrity: Vec<String>,
    pub aggregates: Vec<String>,
    pub page_size: i64,
    pub pages: i64,
    pub free_pages: i64,
    pub wal_bytes: u64,
    pub rows: Vec<(String, i64)>,
    /// The oldest row's time of each history table (as stored).
    pub oldest: Vec<(String, Option<String>)>,
    pub problems: Vec<String>,
}

/// The tables whose rows are counted, and the time column of the histories.
const TABLES: [(&str, Option<&str>); 5] = [
    ("exploration_budget", Some("recorded_at")),
    ("entropy_responses", Some("recorded_at")),
    ("pattern_entropy_history", Some("calculated_at")),
    ("patterns", None),
    ("pattern_applications", None),
];

pub(super) fn open_read_only(path: &Path) -> Result<Connection, String> {
    if !path.exists() {
        return Err(format!("{} does not exist", path.display()));
    }
    schema::check_existing_file(path).map_err(|e| e.to_string())?;
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    connection
        .busy_timeout(Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    Ok(connection)
}

fn row_counts(connection: &Connection) -> rusqlite::Result<Vec<(String, i64)>> {
    TABLES
        .iter()
        .map(|(table, _)| {
            let count =
                connection.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
            Ok(((*table).to_owned(), count))
        })
        .collect()
}

/// Copies the database at `from` to the new file `to` (refused when it
/// exists), then checks the copy's integrity.
pub fn backup(from: &Path, to: &Path) -> Result<BackupReport, String> {
    if to.exists() {
        return Err(format!(
            "{} exists; a backup never overwrites a file",
            to.display()
        ));
    }
    let source = open_read_only(from)?;
    let target = to
        .to_str()
        .ok_or_else(|| format!("{} is not a UTF-8 path", to.display()))?;
    source
        .execute("VACUUM INTO ?1", [target])
        .map_err(|e| format!("the copy failed: {e}"))?;
    let copy = Connection::open_with_flags(to, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("cannot open the copy: {e}"))?;
    let integrity = integrity(&copy).map_err(|e| format!("cannot check the copy: {e}"))?;
    if !integrity.is_empty() {
        return Err(format!("the copy is damaged: {}", integrity.join("; ")));
    }
    let rows = row_counts(&copy).map_err(|e| format!("cannot count the copy's rows: {e}"))?;
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    Ok(BackupReport { bytes, rows })
}

/// `PRAGMA integrity_check`: the problems it lists (none when "ok").
fn integrity(connection: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement = connection.prepare("PRAGMA integrity_check")?;
    let lines = statement
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines.into_iter().filter(|line| line != "ok").collect())
}

/// Checks the file at `path`. An error is a file that could not be checked
/// at all (missing, not SQLite, unreadable).
pub fn check(path: &Path) -> Result<CheckReport, String> {
    let connection = open_read_only(path)?;
    let mut report = CheckReport::default();
    let sql = |e: rusqlite::Error| format!("the check could not read the file: {e}");
    report.integrity = integrity(&connection).map_err(sql)?;
    report.schema_version = connection
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .optional()
        .map_err(sql)?
        .flatten();
    let pragma = |name: &str| connection.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0));
    report.page_size = pragma("page_size").map_err(sql)?;
    report.pages = pragma("page_count").map_err(sql)?;
    report.free_pages = pragma("freelist_count").map_err(sql)?;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    report.wal_bytes = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
    report.rows = row_counts(&connection).map_err(sql)?;
    for (table, time) in TABLES {
        if let Some(time) = time {
            let oldest = connection
                .query_row(&format!("SELECT MIN({time}) FROM {table}"), [], |r| {
                    r.get(0)
                })
                .map_err(sql)?;
            report.oldest.push((table.to_owned(), oldest));
        }
    }
    report.aggregates = aggregate_mismatches(&connection).map_err(sql)?;

    if !report.integrity.is_empty() {
        report.problems.push(format!(
            "the file is damaged (integrity check: {}); restore it from a backup",
            report.integrity.join("; ")
        ));
    }
    match report.schema_version {
        Some(schema::SCHEMA_VERSION) => {}
        found => report.problems.push(format!(
            "the schema version is {found:?}, not the {} this service keeps",
            schema::SCHEMA_VERSION
        )),
    }
    if !report.aggregates.is_empty() {
        report.problems.push(format!(
            "the service's aggregates disagree with the rows ({}); delete the ls_meta row \
             'aggregates_version' and restart the service to rebuild them",
            report.aggregates.join("; ")
        ));
    }
    Ok(report)
}

/// Each `ls_` aggregate row that differs from a recount of the raw rows.
fn aggregate_mismatches(connection: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut mismatches = Vec::new();
    let kept = |sql: &str| -> rusqlite::Result<HashMap<String, (i64, f64)>> {
        let mut statement = connection.prepare(sql)?;
        let rows = statement.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (
                    r.get::<_, Option<f64>>(1)?.unwrap_or(0.0) as i64,
                    r.get::<_, Option<f64>>(2)?.unwrap_or(0.0),
                ),
            ))
        })?;
        rows.collect()
    };
    let pairs = [
        (
            "budget",
            "SELECT job_hash, n, value_sum + coalesce(value_err, 0) FROM ls_budget_stats \
             WHERE all_jobs = 0",
            "SELECT job_hash, COUNT(*), TOTAL(budget_value) FROM exploration_budget \
             GROUP BY job_hash",
        ),
        (
            "responses",
            "SELECT job_hash, n, entropy_sum + coalesce(entropy_err, 0) FROM ls_response_stats \
             WHERE all_jobs = 0",
            "SELECT job_hash, COUNT(*), TOTAL(entropy_at_trigger) FROM entropy_responses \
             GROUP BY job_hash",
        ),
        (
            "applications",
            "SELECT pattern_id, n, 0 FROM ls_pattern_app_counts WHERE n > 0",
            "SELECT pattern_id, COUNT(*), 0 FROM pattern_applications \
             WHERE pattern_id IS NOT NULL GROUP BY pattern_id",
        ),
    ];
    for (what, kept_sql, raw_sql) in pairs {
        let (stored, counted) = (kept(kept_sql)?, kept(raw_sql)?);
        let mut keys: Vec<&String> = stored.keys().chain(counted.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let (a, b) = (stored.get(key), counted.get(key));
            let same = match (a, b) {
                (Some((n1, s1)), Some((n2, s2))) => {
                    n1 == n2 && (s1 - s2).abs() <= 1e-9 * s2.abs().max(1.0)
                }
                (None, Some((0, _))) | (Some((0, _)), None) => true,
                _ => false,
            };
            if !same {
                let show =
                    |v: Option<&(i64, f64)>| v.map_or("none".to_owned(), |(n, _)| n.to_string());
                mismatches.push(format!(
                    "{what} of {key:?}: {} kept, {} counted",
                    show(a),
                    show(b)
                ));
            }
        }
    }
    Ok(mismatches)
}
