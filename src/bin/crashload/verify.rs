//! Checks a database (SQLite file or PostgreSQL) against the log of
//! acknowledged records.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fs::File,
    io::{BufRead, BufReader},
    path::Path,
};

use super::{VerifyArgs, database::Database};

/// What the log says must be in the file.
#[derive(Default)]
struct Expected {
    /// (table, id, job or "-")
    records: Vec<(&'static str, String, String)>,
    budget_rows: BTreeMap<String, i64>,
    response_rows: BTreeMap<String, i64>,
    patterns: i64,
    applications: i64,
    snapshots: i64,
    request_ids: Vec<String>,
    final_status: HashMap<String, String>,
    lines: usize,
}

fn read_log(path: &Path) -> Result<Expected, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut expected = Expected::default();
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read the log: {e}"))?;
        let fields: Vec<&str> = line.split('\t').collect();
        let bad = || format!("log line {}: {line:?}", number + 1);
        let [kind, request_id, job, id, rest @ ..] = fields.as_slice() else {
            return Err(bad());
        };
        let (job, id) = (job.to_string(), id.to_string());
        expected.request_ids.push(request_id.to_string());
        expected.lines += 1;
        match *kind {
            "budget" => {
                *expected.budget_rows.entry(job.clone()).or_default() += 1;
                expected.records.push(("exploration_budget", id, job));
            }
            "trigger" => {
                *expected.budget_rows.entry(job.clone()).or_default() += 1;
                *expected.response_rows.entry(job.clone()).or_default() += 1;
                expected.records.push(("entropy_responses", id, job));
            }
            "respond" if id == "-" => {}
            "respond" => {
                *expected.budget_rows.entry(job.clone()).or_default() += 1;
                *expected.response_rows.entry(job.clone()).or_default() += 1;
                expected.records.push(("entropy_responses", id, job));
            }
            "snapshot" => {
                expected.snapshots += 1;
                expected.records.push(("pattern_entropy_history", id, job));
            }
            "pattern" => {
                expected.patterns += 1;
                expected.final_status.insert(id.clone(), "pending".into());
                expected.records.push(("patterns", id, job));
            }
            "application" => {
                expected.applications += 1;
                expected.records.push(("pattern_applications", id, job));
            }
            "status" => {
                let status = rest.first().ok_or_else(bad)?;
                expected.final_status.insert(id, status.to_string());
            }
            _ => return Err(bad()),
        }
    }
    Ok(expected)
}

pub fn run(args: &VerifyArgs) -> Result<String, Vec<String>> {
    let expected = read_log(&args.log).map_err(|e| vec![e])?;
    let mut db = Database::open(&args.db).map_err(|e| vec![e])?;
    check(&mut db, &expected).map_err(|e| vec![format!("database error: {e}")])?
}

fn check(db: &mut Database, expected: &Expected) -> Result<Result<String, Vec<String>>, String> {
    let mut problems = db.integrity_problems()?;

    // Every acknowledged record, present once.
    for (table, id, job) in &expected.records {
        let job_column = if job == "-" {
            "CAST('-' AS TEXT)"
        } else {
            "job_hash"
        };
        let row = db.row(
            &format!("SELECT COUNT(*), max({job_column}) FROM {table} WHERE id = $1"),
            &[id],
        )?;
        let (count, jobs) = (row[0].int()?, row[1].text()?);
        if count != 1 {
            problems.push(format!("{table} {id}: present {count} times"));
        } else if jobs.as_deref() != Some(job.as_str()) {
            problems.push(format!("{table} {id}: job {jobs:?}, expected {job}"));
        }
    }

    // Nothing more: a retried write that ran twice would show here.
    for (table, wanted) in [
        ("exploration_budget", &expected.budget_rows),
        ("entropy_responses", &expected.response_rows),
    ] {
        let found = db
            .rows(
                &format!("SELECT job_hash, COUNT(*) FROM {table} GROUP BY job_hash"),
                &[],
            )?
            .iter()
            .map(|row| Ok((row[0].text()?.unwrap_or_default(), row[1].int()?)))
            .collect::<Result<BTreeMap<String, i64>, String>>()?;
        if &found != wanted {
            problems.push(format!(
                "{table} rows per job: {found:?}, acknowledged {wanted:?}"
            ));
        }
    }
    for (table, wanted) in [
        ("patterns", expected.patterns),
        ("pattern_applications", expected.applications),
        ("pattern_entropy_history", expected.snapshots),
    ] {
        let found = db.count(&format!("SELECT COUNT(*) FROM {table}"), &[])?;
        if found != wanted {
            problems.push(format!("{table}: {found} rows, {wanted} acknowledged"));
        }
    }

    // Each acknowledged call left its key, and no other call did.
    let distinct: HashSet<&String> = expected.request_ids.iter().collect();
    if distinct.len() != expected.request_ids.len() {
        problems.push("the log repeats a request_id".into());
    }
    let keys = db.count("SELECT COUNT(*) FROM ls_idempotency", &[])?;
    if keys != distinct.len() as i64 {
        problems.push(format!(
            "ls_idempotency: {keys} keys, {} acknowledged calls",
            distinct.len()
        ));
    }
    for id in &distinct {
        let sql = "SELECT COUNT(*) FROM ls_idempotency WHERE request_id = $1";
        if db.count(sql, &[id])? != 1 {
            problems.push(format!("request_id {id}: no key stored"));
        }
    }

    // Each pattern: its last acknowledged status, and its counters match its
    // applications (the counter update and the insert are one transaction).
    for (id, status) in &expected.final_status {
        let row = db.row(
            "SELECT quarantine_status, coalesce(led_to_success_count, 0) + \
             coalesce(led_to_failure_count, 0), \
             (SELECT COUNT(*) FROM pattern_applications a WHERE a.pattern_id = p.id) \
             FROM patterns p WHERE id = $1",
            &[id],
        )?;
        let (stored, counted, applications) = (
            row[0].text()?.unwrap_or_default(),
            row[1].int()?,
            row[2].int()?,
        );
        if &stored != status {
            problems.push(format!("pattern {id}: status {stored}, last set {status}"));
        }
        if counted != applications {
            problems.push(format!(
                "pattern {id}: counters say {counted} applications, {applications} stored"
            ));
        }
    }

    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    Ok(Ok(format!(
        "verify: database checks ok; all {} acknowledged writes present exactly once ({} records: \
         {} budget rows, {} responses, {} snapshots, {} patterns, {} applications); \
         {} request ids stored",
        expected.lines,
        expected.records.len(),
        expected.budget_rows.values().sum::<i64>(),
        expected.response_rows.values().sum::<i64>(),
        expected.snapshots,
        expected.patterns,
        expected.applications,
        keys
    )))
}
