//! GetExplorationBudgetHistory sends pages it encoded before while the job's
//! records keep their version (kept by SQLite triggers). A kept page must
//! never outlive a change: whoever writes the file (this service, plain SQL,
//! the original store on Python's sqlite3), the next read answers the rows
//! as they are, and page tokens go on working.

mod common;
#[path = "support/prerequisite.rs"]
mod prerequisite;
#[path = "support/python.rs"]
mod python;

use common::{TestServer, backend::require_sqlite};
use learning_service::pb;

/// What a page shows of each record, as served.
type Shown = (String, String, Option<String>, f64, String);

fn shown(r: pb::ExplorationBudgetRecord) -> Shown {
    (
        r.id,
        r.job_hash,
        r.adjustment_reason,
        r.budget_value,
        r.stored_adjustment_type,
    )
}

async fn page(
    server: &TestServer,
    job: Option<&str>,
    limit: i32,
    token: &str,
) -> (Vec<Shown>, String) {
    let page = server
        .budget()
        .get_exploration_budget_history(pb::GetExplorationBudgetHistoryRequest {
            job_hash: job.map(Into::into),
            limit,
            page_token: token.into(),
        })
        .await
        .expect("history")
        .into_inner();
    (
        page.records.into_iter().map(shown).collect(),
        page.next_page_token,
    )
}

/// The rows as they are in the file, newest first, `offset` rows skipped.
fn reference(server: &TestServer, job: Option<&str>, limit: i64, offset: i64) -> Vec<Shown> {
    let sql = server.sql();
    let mut statement = sql
        .prepare(
            "SELECT id, job_hash, adjustment_reason, budget_value, adjustment_type \
             FROM exploration_budget WHERE ?1 IS NULL OR job_hash = ?1 \
             ORDER BY rowid DESC LIMIT ?2 OFFSET ?3",
        )
        .unwrap();
    statement
        .query_map(rusqlite::params![job, limit, offset], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Reads the first two pages of 2 records of job J and of every job, twice
/// each (the second read finds the kept page), and compares them with
/// `expected(job, limit, offset)`.
async fn assert_pages_are(
    server: &TestServer,
    step: &str,
    expected: impl Fn(Option<&str>, i64, i64) -> Vec<Shown>,
) {
    for job in [Some("J"), None] {
        for _ in 0..2 {
            let (first, token) = page(server, job, 2, "").await;
            assert_eq!(first, expected(job, 2, 0), "{step}: {job:?}, first page");
            if token.is_empty() {
                assert!(expected(job, 1, 2).is_empty(), "{step}: no token");
                continue;
            }
            let (second, _) = page(server, job, 2, &token).await;
            assert_eq!(second, expected(job, 2, 2), "{step}: {job:?}, second page");
        }
    }
}

/// [`assert_pages_are`] the file's rows.
async fn assert_pages_exact(server: &TestServer, step: &str) {
    assert_pages_are(server, step, |job, limit, offset| {
        reference(server, job, limit, offset)
    })
    .await;
}

/// What the service answered to each write, oldest first: the pages must
/// show them, newest first, on any backend.
#[derive(Default)]
struct Written(Vec<Shown>);

impl Written {
    fn pages(&self, job: Option<&str>, limit: i64, offset: i64) -> Vec<Shown> {
        self.0
            .iter()
            .rev()
            .filter(|r| job.is_none_or(|job| r.1 == job))
            .skip(offset as usize)
            .take(limit as usize)
            .cloned()
            .collect()
    }
}

async fn record(server: &TestServer, job: &str, value: f64) -> pb::ExplorationBudgetRecord {
    server
        .budget()
        .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
            job_hash: job.into(),
            budget_value: value,
            adjustment_type: pb::AdjustmentType::Boost as i32,
            adjustment_reason: Some(format!("set to {value}")),
            ..Default::default()
        })
        .await
        .expect("update")
        .into_inner()
        .record
        .expect("record")
}

#[tokio::test]
async fn kept_pages_follow_every_write_of_the_service() {
    let server = TestServer::start().await;
    let mut written = Written::default();
    assert_pages_are(&server, "empty", |j, l, o| written.pages(j, l, o)).await;
    for n in 0..5 {
        let value = 0.1 + n as f64 / 100.0;
        written.0.push(shown(record(&server, "J", value).await));
        let step = format!("record {n}");
        assert_pages_are(&server, &step, |j, l, o| written.pages(j, l, o)).await;
    }
    written.0.push(shown(record(&server, "K", 0.2).await));
    assert_pages_are(&server, "another job", |j, l, o| written.pages(j, l, o)).await;
    let adjusted = server
        .budget()
        .calculate_budget_adjustment(pb::CalculateBudgetAdjustmentRequest {
            job_hash: "J".into(),
            current_entropy: 0.1,
            ..Default::default()
        })
        .await
        .expect("adjust")
        .into_inner()
        .record
        .expect("record");
    written.0.push(shown(adjusted));
    assert_pages_are(&server, "adjustment", |j, l, o| written.pages(j, l, o)).await;
    server.stop().await;
}

#[tokio::test]
async fn kept_pages_follow_writes_of_other_programs() {
    if !require_sqlite("kept_pages_follow_writes_of_other_programs") {
        return;
    }
    let server = TestServer::start().await;
    for n in 0..4 {
        record(&server, "J", 0.1 + n as f64 / 100.0).await;
    }
    record(&server, "K", 0.3).await;
    assert_pages_exact(&server, "start").await;
    let sql = server.sql();
    let changes = [
        "INSERT INTO exploration_budget VALUES ('sql-1', 'J', '2025-01-01T10:00:00', 0.2, NULL, \
         'boost', 'by SQL')",
        // Columns that no aggregate looks at.
        "UPDATE exploration_budget SET adjustment_reason = 'changed' WHERE id = 'sql-1'",
        "UPDATE exploration_budget SET recorded_at = '2025-01-02T10:00:00' WHERE id = 'sql-1'",
        "UPDATE exploration_budget SET adjustment_type = 'decay' WHERE job_hash = 'J'",
        // A row moved from K to J, and one deleted.
        "UPDATE exploration_budget SET job_hash = 'J' WHERE job_hash = 'K'",
        "DELETE FROM exploration_budget WHERE id = 'sql-1'",
        // The rowid decides the order.
        "UPDATE exploration_budget SET rowid = 1000 WHERE rowid = (SELECT MIN(rowid) FROM \
         exploration_budget)",
        "DELETE FROM exploration_budget WHERE rowid IN (SELECT rowid FROM exploration_budget \
         ORDER BY rowid DESC LIMIT 2)",
    ];
    for change in changes {
        sql.execute(change, []).unwrap();
        assert_pages_exact(&server, change).await;
    }
    sql.execute("DELETE FROM exploration_budget", []).unwrap();
    assert_pages_exact(&server, "all deleted").await;
    server.stop().await;
}

/// The original store on Python's sqlite3 writes, updates and deletes rows
/// between reads. Skipped where no python3 is installed (a failure in CI).
#[tokio::test]
async fn kept_pages_follow_writes_of_the_original_store() {
    if !require_sqlite("kept_pages_follow_writes_of_the_original_store") {
        return;
    }
    let server = TestServer::start().await;
    for n in 0..3 {
        record(&server, "J", 0.1 + n as f64 / 100.0).await;
    }
    assert_pages_exact(&server, "start").await;
    let steps = [
        "c.execute(\"INSERT INTO exploration_budget VALUES ('py-1', 'J', '2025-01-01T10:00:00', \
         0.15, NULL, 'initial', 'Initial budget set')\")",
        "c.execute(\"UPDATE exploration_budget SET adjustment_reason = 'py reason' \
         WHERE id = 'py-1'\")",
        "c.execute(\"UPDATE exploration_budget SET budget_value = 0.4 WHERE job_hash = 'J'\")",
        "c.execute(\"DELETE FROM exploration_budget WHERE id = 'py-1'\")",
        "c.execute(\"DELETE FROM exploration_budget WHERE job_hash = 'J'\")",
    ];
    for step in steps {
        let script = format!(
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1], timeout=30.0)\n\
             {step}\n\
             c.commit()\n\
             print('ok')\n"
        );
        let Some(stdout) = python::run(&script, &server.db) else {
            server.stop().await;
            return;
        };
        assert_eq!(stdout.trim(), "ok", "{step}");
        assert_pages_exact(&server, step).await;
    }
    server.stop().await;
}

/// The kept page is what is served while the version stays: a change made
/// behind the triggers' back (to the service's own explanation table, which
/// only this service writes, in the record's transaction) is not seen until
/// the job's records change. This shows that pages are kept at all.
#[tokio::test]
async fn a_kept_page_is_served_while_the_version_stays() {
    if !require_sqlite("a_kept_page_is_served_while_the_version_stays") {
        return;
    }
    let server = TestServer::start().await;
    record(&server, "J", 0.2).await;
    let explanation = |page: pb::GetExplorationBudgetHistoryResponse| {
        page.records[0]
            .explanation
            .clone()
            .expect("explanation")
            .proposed_value
    };
    let history = || async {
        server
            .budget()
            .get_exploration_budget_history(pb::GetExplorationBudgetHistoryRequest {
                job_hash: Some("J".into()),
                limit: 10,
                page_token: String::new(),
            })
            .await
            .expect("history")
            .into_inner()
    };
    assert_eq!(explanation(history().await), 0.2);
    server
        .sql()
        .execute(
            "UPDATE ls_budget_explanation SET explanation = \
             json_set(explanation, '$.proposed_value', 0.9)",
            [],
        )
        .unwrap();
    assert_eq!(explanation(history().await), 0.2, "the kept page");
    server
        .sql()
        .execute("UPDATE exploration_budget SET adjustment_reason = 'r'", [])
        .unwrap();
    assert_eq!(
        explanation(history().await),
        0.9,
        "read again after a change"
    );
    server.stop().await;
}
