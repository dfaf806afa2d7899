//! `learning-service check --db FILE [--json]`: is this store file sound?
//! Exit status 0 when it is, 1 with a sentence per problem when not.

use std::{path::PathBuf, process::ExitCode};

use serde_json::json;

use crate::store::sqlite::maintenance::{self, CheckReport};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The SQLite file to check (the service may be running on it).
    #[arg(long, env = "LEARNING_DB", default_value = "./learning.db")]
    pub db: PathBuf,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

impl CheckArgs {
    pub fn run(self) -> ExitCode {
        let report = match maintenance::check(&self.db) {
            Ok(report) => report,
            Err(problem) => {
                if self.json {
                    println!("{}", json!({"ok": false, "problems": [problem]}));
                } else {
                    eprintln!("error: {problem}");
                }
                return ExitCode::FAILURE;
            }
        };
        if self.json {
            println!("{}", as_json(&report));
        } else {
            print!("{}", as_text(&self.db, &report));
        }
        if report.problems.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

fn as_json(report: &CheckReport) -> serde_json::Value {
    let rows: serde_json::Map<_, _> = report
        .rows
        .iter()
        .map(|(table, n)| (table.clone(), json!(n)))
        .collect();
    let oldest: serde_json::Map<_, _> = report
        .oldest
        .iter()
        .map(|(table, at)| (table.clone(), json!(at)))
        .collect();
    json!({
        "ok": report.problems.is_empty(),
        "problems": report.problems,
        "schema_version": report.schema_version,
        "integrity": if report.integrity.is_empty() { json!("ok") } else { json!(report.integrity) },
        "aggregate_mismatches": report.aggregates,
        "page_size": report.page_size,
        "pages": report.pages,
        "free_pages": report.free_pages,
        "wal_bytes": report.wal_bytes,
        "rows": rows,
        "oldest": oldest,
    })
}

fn as_text(db: &std::path::Path, report: &CheckReport) -> String {
    let mut out = format!("Store check of {}\n", db.display());
    let version = report
        .schema_version
        .map_or("none".to_owned(), |v| v.to_string());
    out.push_str(&format!("  Schema version:  {version}\n"));
    let integrity = if report.integrity.is_empty() {
        "ok"
    } else {
        "DAMAGED"
    };
    out.push_str(&format!("  Integrity:       {integrity}\n"));
    let aggregates = if report.aggregates.is_empty() {
        "match the rows"
    } else {
        "DISAGREE"
    };
    out.push_str(&format!("  Aggregates:      {aggregates}\n"));
    out.push_str(&format!(
        "  Size:            {} pages of {} bytes, {} free; WAL {} bytes\n",
        report.pages, report.page_size, report.free_pages, report.wal_bytes
    ));
    for (table, rows) in &report.rows {
        let oldest = report
            .oldest
            .iter()
            .find(|(t, _)| t == table)
            .and_then(|(_, at)| at.clone())
            .map(|at| format!(", oldest {at}"))
            .unwrap_or_default();
        out.push_str(&format!("  {table:<24} {rows:>10} rows{oldest}\n"));
    }
    for problem in &report.problems {
        out.push_str(&format!("problem: {problem}\n"));
    }
    if report.problems.is_empty() {
        out.push_str("ok: the store is sound\n");
    }
    out
}
