//! Budget writes committed in groups (both backends): concurrent writes of
//! many jobs share commits, each job's writes still read the record written
//! just before them, and a write that fails inside a group fails alone.

mod common;

use std::collections::HashMap;

use common::TestServer;
use learning_service::pb;
use tonic::Code;

const JOBS: usize = 16;
const CALLERS: usize = 48;
const CALLS: usize = 8;

fn adjustment(job: usize, call: usize, request_id: String) -> pb::CalculateBudgetAdjustmentRequest {
    pb::CalculateBudgetAdjustmentRequest {
        job_hash: format!("job-{job:02}"),
        // Boosts and decays in turn, so a lost or doubled read changes values.
        current_entropy: if call.is_multiple_of(3) { 0.9 } else { 0.1 },
        request_id,
        ..Default::default()
    }
}

/// `CALLERS` callers spread over `servers`, each making `CALLS` adjustments
/// of one of `JOBS` jobs, all at once.
async fn adjust_concurrently(servers: &[&TestServer]) {
    let tasks: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let mut client = servers[caller % servers.len()].budget();
            tokio::spawn(async move {
                for call in 0..CALLS {
                    let request = adjustment(caller % JOBS, call, String::new());
                    client
                        .calculate_budget_adjustment(request)
                        .await
                        .expect("every adjustment succeeds");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

/// Each job's records form one chain: every record names the one before it
/// as its previous record and starts from its value; none is missing.
async fn assert_chained_per_job(server: &TestServer) {
    let mut total = 0;
    for job in 0..JOBS {
        let records = server.budget_history(&format!("job-{job:02}")).await;
        total += records.len();
        let oldest_first: Vec<_> = records.iter().rev().collect();
        for pair in oldest_first.windows(2) {
            let explanation = pair[1].explanation.as_ref().expect("an explanation");
            assert_eq!(
                explanation.previous_record_id.as_deref(),
                Some(pair[0].id.as_str()),
                "job-{job:02}: a record read another than the one before it"
            );
            assert_eq!(explanation.previous_budget, Some(pair[0].budget_value));
        }
    }
    assert_eq!(total, CALLERS * CALLS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adjustments_share_commits_and_chain_per_job() {
    let server = TestServer::start_with(learning_service::server::ServerOptions {
        health_check_interval: std::time::Duration::ZERO,
        ..Default::default()
    })
    .await;
    let before = server.write_counts();
    adjust_concurrently(&[&server]).await;
    let after = server.write_counts();
    let writes = (CALLERS * CALLS) as u64;
    assert!(after.operations - before.operations >= writes);
    assert!(
        after.commits - before.commits < writes,
        "no two writes shared a commit: {before:?} -> {after:?}"
    );
    assert!(after.largest_batch > 1, "{after:?}");
    assert_chained_per_job(&server).await;
    server.stop().await;
}

/// The same over two replicas of one store: groups of both commit
/// concurrently, and each job's writes still chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_adjusting_many_jobs_chain_per_job() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    let a = TestServer::start_on(db.clone()).await;
    let b = TestServer::start_on(db).await;
    adjust_concurrently(&[&a, &b]).await;
    assert_chained_per_job(&b).await;
    a.stop().await;
    b.stop().await;
}

/// Adjustments with request_ids, all at once: the ones that reuse a key for
/// another request get INVALID_ARGUMENT, the retries get the first result,
/// and every other write is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_that_fails_in_a_group_fails_alone() {
    let server = TestServer::start().await;
    let mut client = server.budget();
    let first = client
        .calculate_budget_adjustment(adjustment(0, 0, "taken".into()))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let mut client = server.budget();
            tokio::spawn(async move {
                let (request, expect) = match caller % 6 {
                    // "taken" for another job: a reuse, refused.
                    0 => (adjustment(caller % JOBS + 1, 1, "taken".into()), "reused"),
                    // "taken" for the same request: a retry, replayed.
                    1 => (adjustment(0, 0, "taken".into()), "replayed"),
                    _ => (
                        adjustment(caller % JOBS, caller, format!("key-{caller}")),
                        "written",
                    ),
                };
                let outcome = client.calculate_budget_adjustment(request).await;
                (expect, outcome.map(|r| r.into_inner().record.unwrap()))
            })
        })
        .collect();
    let mut written: HashMap<String, usize> = HashMap::new();
    for task in tasks {
        let (expect, outcome) = task.await.unwrap();
        match expect {
            "reused" => {
                let status = outcome.unwrap_err();
                assert_eq!(status.code(), Code::InvalidArgument);
                common::assert_invalid(&status, "request_id");
            }
            "replayed" => assert_eq!(outcome.unwrap().id, first.id),
            _ => *written.entry(outcome.unwrap().job_hash).or_default() += 1,
        }
    }
    let mut stored = 0;
    for job in 0..=JOBS {
        let job = format!("job-{job:02}");
        let records = server.budget_history(&job).await;
        let expected = written.get(&job).copied().unwrap_or(0) + usize::from(job == "job-00");
        assert_eq!(records.len(), expected, "{job}");
        stored += records.len();
    }
    assert_eq!(stored, 1 + CALLERS * 4 / 6);
    server.stop().await;
}
