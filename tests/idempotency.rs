//! request_id on every write RPC: a retry returns the first result and writes
//! nothing new, also after a restart and when retries race; a reused id for
//! another request is refused and writes nothing.

mod common;

use common::{TestServer, assert_invalid};
use learning_service::pb::{self, AdjustmentType, QuarantineStatus};
use prost::Message;
use tonic::{Code, Status};

/// One request of each write RPC.
#[derive(Clone, Debug)]
enum Write {
    Update(pb::UpdateExplorationBudgetRequest),
    Adjust(pb::CalculateBudgetAdjustmentRequest),
    Trigger(pb::TriggerEntropyResponseRequest),
    Snapshot(pb::RecordPatternEntropyRequest),
    Respond(pb::RespondToEntropyIfNeededRequest),
    Pattern(pb::RecordPatternRequest),
    Application(pb::RecordPatternApplicationRequest),
    Status(pb::SetPatternQuarantineStatusRequest),
}

impl Write {
    /// The same request with this request_id.
    fn with_id(mut self, id: &str) -> Self {
        let field = match &mut self {
            Write::Update(r) => &mut r.request_id,
            Write::Adjust(r) => &mut r.request_id,
            Write::Trigger(r) => &mut r.request_id,
            Write::Snapshot(r) => &mut r.request_id,
            Write::Respond(r) => &mut r.request_id,
            Write::Pattern(r) => &mut r.request_id,
            Write::Application(r) => &mut r.request_id,
            Write::Status(r) => &mut r.request_id,
        };
        *field = id.to_owned();
        self
    }

    /// Calls the RPC; returns the encoded response, to compare any two.
    async fn call(self, server: &TestServer) -> Result<Vec<u8>, Status> {
        Ok(match self {
            Write::Update(r) => server
                .budget()
                .update_exploration_budget(r)
                .await?
                .into_inner()
                .encode_to_vec(),
            Write::Adjust(r) => server
                .budget()
                .calculate_budget_adjustment(r)
                .await?
                .into_inner()
                .encode_to_vec(),
            Write::Trigger(r) => server
                .entropy()
                .trigger_entropy_response(r)
                .await?
                .into_inner()
                .encode_to_vec(),
            Write::Snapshot(r) => server
                .entropy()
                .record_pattern_entropy(r)
                .await?
                .into_inner()
                .encode_to_vec(),
            Write::Respond(r) => server
                .entropy()
                .respond_to_entropy_if_needed(r)
                .await?
                .into_inner()
                .encode_to_vec(),
            Write::Pattern(r) => server
                .patterns()
                .record_pattern(r)
                .await?
                .into_inner()
                .encode_to_vec(),
            Write::Application(r) => server
                .patterns()
                .record_pattern_application(r)
                .await?
                .into_inner()
                .encode_to_vec(),
            Write::Status(r) => server
                .patterns()
                .set_pattern_quarantine_status(r)
                .await?
                .into_inner()
                .encode_to_vec(),
        })
    }
}

/// Seeds a population whose diversity (0.469) is below 0.5, so that every
/// respond-if-needed without cooldown records a response; returns a pattern id.
async fn seed(server: &TestServer) -> String {
    server.seed_applications(&[90, 10]).await.remove(0)
}

/// Each write RPC once, every one of them writing something new when run again.
fn every_write(pattern_id: &str) -> Vec<Write> {
    vec![
        Write::Update(pb::UpdateExplorationBudgetRequest {
            job_hash: "job".into(),
            budget_value: 0.2,
            adjustment_type: AdjustmentType::Boost as i32,
            ..Default::default()
        }),
        Write::Adjust(pb::CalculateBudgetAdjustmentRequest {
            job_hash: "job".into(),
            current_entropy: 0.1,
            ..Default::default()
        }),
        Write::Trigger(pb::TriggerEntropyResponseRequest {
            trigger: Some(pb::EntropyTriggerContext {
                job_hash: "job".into(),
                entropy_at_trigger: 0.1,
                threshold_used: 0.3,
                snapshot_id: None,
            }),
            ..Default::default()
        }),
        Write::Snapshot(pb::RecordPatternEntropyRequest {
            metrics: Some(pb::PatternEntropyMetrics {
                shannon_entropy: 1.0,
                max_possible_entropy: 1.0,
                diversity_index: 1.0,
                unique_pattern_count: 2,
                effective_pattern_count: 2,
                total_applications: 20,
                dominant_pattern_share: 0.5,
                ..Default::default()
            }),
            ..Default::default()
        }),
        Write::Respond(pb::RespondToEntropyIfNeededRequest {
            job_hash: "daemon".into(),
            entropy_threshold: Some(0.5),
            cooldown_seconds: Some(0),
            ..Default::default()
        }),
        Write::Pattern(pb::RecordPatternRequest {
            pattern_type: "retry".into(),
            pattern_name: "backoff".into(),
            ..Default::default()
        }),
        Write::Application(pb::RecordPatternApplicationRequest {
            pattern_id: pattern_id.into(),
            execution_id: "exec".into(),
            pattern_led_to_success: true,
            ..Default::default()
        }),
        Write::Status(pb::SetPatternQuarantineStatusRequest {
            pattern_id: pattern_id.into(),
            status: QuarantineStatus::Validated as i32,
            reason: Some("checked".into()),
            ..Default::default()
        }),
    ]
}

fn changed(before: &[(String, i64)], after: &[(String, i64)]) -> Vec<(String, i64)> {
    after
        .iter()
        .filter(|(table, count)| {
            before
                .iter()
                .find(|(t, _)| t == table)
                .is_none_or(|(_, c)| c != count)
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_retry_returns_the_first_result_and_writes_nothing() {
    let server = TestServer::start().await;
    let pattern_id = seed(&server).await;
    for (index, write) in every_write(&pattern_id).into_iter().enumerate() {
        let id = format!("retry-{index}");
        let first = write.clone().with_id(&id).call(&server).await.unwrap();
        let after_first = server.all_row_counts();
        for _ in 0..3 {
            let again = write.clone().with_id(&id).call(&server).await.unwrap();
            assert_eq!(again, first, "{write:?}");
        }
        assert_eq!(server.all_row_counts(), after_first, "{write:?}");
        // Without the id the same request is a new call (the test can fail).
        let fresh = write.clone().call(&server).await.unwrap();
        assert_ne!(fresh, first, "{write:?}");
    }
    let keys: i64 = server.scalar("SELECT COUNT(*) FROM ls_idempotency");
    assert_eq!(keys, 8);
    server.stop().await;
}

#[tokio::test]
async fn a_retry_after_a_restart_returns_the_first_result() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    let server = TestServer::start_on(db.clone()).await;
    let pattern_id = seed(&server).await;
    let mut first = Vec::new();
    for (index, write) in every_write(&pattern_id).into_iter().enumerate() {
        let id = format!("restart-{index}");
        first.push(write.clone().with_id(&id).call(&server).await.unwrap());
    }
    let counts = server.all_row_counts();
    server.stop().await;

    let server = TestServer::start_on(db).await;
    for (index, write) in every_write(&pattern_id).into_iter().enumerate() {
        let id = format!("restart-{index}");
        let again = write.with_id(&id).call(&server).await.unwrap();
        assert_eq!(again, first[index]);
    }
    assert_eq!(server.all_row_counts(), counts);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_retries_make_one_effect() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let pattern_id = seed(&server).await;
    for (index, write) in every_write(&pattern_id).into_iter().enumerate() {
        let before = server.all_row_counts();
        let write = write.with_id(&format!("race-{index}"));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let server = server.clone();
                let write = write.clone();
                tokio::spawn(async move { write.call(&server).await })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap().unwrap());
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "{write:?}");
        // One key and the effect of one call.
        let difference = changed(&before, &server.all_row_counts());
        // The aggregate tables kept by triggers follow the data rows; count the rows themselves.
        let grown: i64 = difference
            .iter()
            .filter(|(table, _)| table == "ls_idempotency" || !table.starts_with("ls_"))
            .map(|(table, count)| {
                count - before.iter().find(|(t, _)| t == table).map_or(0, |c| c.1)
            })
            .sum();
        let single_effect = match write {
            // A budget row and a response row.
            Write::Trigger(_) | Write::Respond(_) => 2,
            // An update of an existing row.
            Write::Status(_) => 0,
            _ => 1,
        };
        assert_eq!(grown, single_effect + 1, "{write:?}: {difference:?}");
    }
}

#[tokio::test]
async fn a_reused_id_for_another_request_is_refused_and_writes_nothing() {
    let server = TestServer::start().await;
    let pattern_id = seed(&server).await;
    let writes = every_write(&pattern_id);
    writes[0]
        .clone()
        .with_id("shared")
        .call(&server)
        .await
        .unwrap();
    let before = server.all_row_counts();
    // Another payload on the same RPC.
    let Write::Update(update) = writes[0].clone() else {
        unreachable!()
    };
    let other_payload = Write::Update(pb::UpdateExplorationBudgetRequest {
        budget_value: 0.3,
        ..update
    });
    let status = other_payload
        .with_id("shared")
        .call(&server)
        .await
        .unwrap_err();
    assert_invalid(&status, "request_id");
    assert!(status.message().contains("reused with a different request"));
    // The same id on every other RPC.
    for write in writes.into_iter().skip(1) {
        let status = write.clone().with_id("shared").call(&server).await;
        assert_invalid(&status.unwrap_err(), "request_id");
    }
    assert_eq!(server.all_row_counts(), before);
    server.stop().await;
}

#[tokio::test]
async fn a_failed_call_does_not_use_up_its_id() {
    let server = TestServer::start().await;
    let missing = Write::Application(pb::RecordPatternApplicationRequest {
        pattern_id: "no-such-pattern".into(),
        execution_id: "exec".into(),
        ..Default::default()
    });
    let before = server.all_row_counts();
    let status = missing
        .with_id("first-try")
        .call(&server)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(server.all_row_counts(), before);
    // The id is free: a valid request with it runs.
    let pattern_id = seed(&server).await;
    let found = Write::Application(pb::RecordPatternApplicationRequest {
        pattern_id,
        execution_id: "exec".into(),
        ..Default::default()
    });
    let answer = found.with_id("first-try").call(&server).await.unwrap();
    let answer = pb::RecordPatternApplicationResponse::decode(answer.as_slice()).unwrap();
    assert_eq!(answer.application_count, 91);
    server.stop().await;
}

#[tokio::test]
async fn request_ids_up_to_128_bytes_are_accepted() {
    let server = TestServer::start().await;
    let write = every_write("unused").remove(0);
    let id = "é".repeat(64);
    let first = write.clone().with_id(&id).call(&server).await.unwrap();
    assert_eq!(
        write.clone().with_id(&id).call(&server).await.unwrap(),
        first
    );
    let before = server.all_row_counts();
    let status = write
        .with_id(&format!("{id}x"))
        .call(&server)
        .await
        .unwrap_err();
    assert_invalid(&status, "request_id");
    assert_eq!(server.all_row_counts(), before);
    server.stop().await;
}

/// Expired ids are pruned by the service itself, without any client call.
#[tokio::test]
async fn expired_request_ids_are_pruned_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    // An id two years old, in the store before the server starts.
    let seeder = TestServer::start_on(db.clone()).await;
    let digest = match common::backend::chosen() {
        common::backend::Backend::Sqlite => "x'00'",
        common::backend::Backend::Postgres => "decode('00', 'hex')",
    };
    seeder.execute(&format!(
        "INSERT INTO ls_idempotency VALUES ('old', 'rpc', {digest}, {digest}, '2020-01-01T00:00:00.000000Z')"
    ));
    seeder.stop().await;
    let server = TestServer::start_on(db).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let left: i64 = server.scalar("SELECT COUNT(*) FROM ls_idempotency");
        if left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the expired id was never pruned"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
