//! Explanations over a real server: every budget record and entropy response
//! the service writes says which rule fired with which inputs, and those
//! inputs reproduce the record through the domain functions (property
//! tests); records in the original's format read back without one; reads,
//! write responses and streams carry it; retention deletes it with its
//! record; the CLI shows it. Runs on SQLite and on PostgreSQL
//! (`LEARNING_TEST_BACKEND=postgres`).

// Only `run` is used here; the certificate helpers are for tests/cli.rs.
#[allow(unused_imports)]
mod cli_support;
mod common;

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use common::{TestServer, backend};
use learning_service::{
    background::ResponderOptions,
    domain::budget::{
        AdjustmentParams, AdjustmentType, Bounds, BudgetProposal, next_adjustment,
        proposed_adjustment, response_boost,
    },
    domain::records::ResponseConfig,
    pb::{
        self, BudgetClamp, BudgetRule, ResponseTrigger,
        watch_entropy_responses_response::Event as ResponseEvent,
        watch_exploration_budget_response::Event as BudgetEvent,
    },
    server::ServerOptions,
    store::{Retention, StoreOptions},
};
use proptest::prelude::*;
use tokio::time::timeout;

const INSTANCE: &str = "test-host:4242:20260101T000000Z";
const WAIT: Duration = Duration::from_secs(20);

async fn start() -> TestServer {
    let options = StoreOptions {
        instance_id: INSTANCE.into(),
        ..StoreOptions::default()
    };
    TestServer::start_with_store(ServerOptions::default(), options).await
}

/// A job name no other case of the run uses.
fn fresh_job(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

async fn adjust(
    server: &TestServer,
    job: &str,
    entropy: f64,
    params: &AdjustmentParams,
    request_id: &str,
) -> pb::ExplorationBudgetRecord {
    server
        .budget()
        .calculate_budget_adjustment(pb::CalculateBudgetAdjustmentRequest {
            job_hash: job.into(),
            current_entropy: entropy,
            floor: Some(params.bounds.floor),
            ceiling: Some(params.bounds.ceiling),
            decay_rate: Some(params.decay_rate),
            boost_amount: Some(params.boost_amount),
            entropy_threshold: Some(params.entropy_threshold),
            initial_budget: Some(params.initial_budget),
            request_id: request_id.into(),
        })
        .await
        .expect("adjust")
        .into_inner()
        .record
        .expect("record")
}

async fn update(
    server: &TestServer,
    job: &str,
    value: f64,
    kind: AdjustmentType,
    bounds: Bounds,
) -> pb::ExplorationBudgetRecord {
    let adjustment_type = learning_service::api::convert::adjustment_type(kind) as i32;
    server
        .budget()
        .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
            job_hash: job.into(),
            budget_value: value,
            adjustment_type,
            floor: Some(bounds.floor),
            ceiling: Some(bounds.ceiling),
            ..Default::default()
        })
        .await
        .expect("update")
        .into_inner()
        .record
        .expect("record")
}

fn trigger_request(job: &str, entropy: f64, threshold: f64) -> pb::TriggerEntropyResponseRequest {
    pb::TriggerEntropyResponseRequest {
        trigger: Some(pb::EntropyTriggerContext {
            job_hash: job.into(),
            entropy_at_trigger: entropy,
            threshold_used: threshold,
            snapshot_id: None,
        }),
        config: Some(pb::EntropyResponseConfig {
            revisit_quarantine: Some(false),
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

fn explanation(record: &pb::ExplorationBudgetRecord) -> &pb::BudgetExplanation {
    record
        .explanation
        .as_ref()
        .unwrap_or_else(|| panic!("record {} has no explanation", record.id))
}

/// The parameters of CalculateBudgetAdjustment as the explanation stored them.
fn stored_params(e: &pb::BudgetExplanation) -> AdjustmentParams {
    AdjustmentParams {
        bounds: Bounds {
            floor: e.floor,
            ceiling: e.ceiling,
        },
        decay_rate: e.decay_rate.expect("decay_rate"),
        boost_amount: e.boost_amount.expect("boost_amount"),
        entropy_threshold: e.entropy_threshold.expect("entropy_threshold"),
        initial_budget: e.initial_budget.expect("initial_budget"),
    }
}

fn clamp_of(proposed: f64, floor: f64, ceiling: f64) -> BudgetClamp {
    if proposed < floor {
        BudgetClamp::Floor
    } else if proposed > ceiling {
        BudgetClamp::Ceiling
    } else {
        BudgetClamp::None
    }
}

/// A CalculateBudgetAdjustment record reproduced from its explanation alone.
fn assert_adjustment_reproduced(record: &pb::ExplorationBudgetRecord) {
    let e = explanation(record);
    let params = stored_params(e);
    let entropy = e.entropy.expect("entropy");
    let again = next_adjustment(e.previous_budget, entropy, &params);
    assert_eq!(again.value, record.budget_value, "{e:?}");
    assert_eq!(
        again.adjustment_type.as_str(),
        record.stored_adjustment_type
    );
    assert_eq!(again.reason, record.adjustment_reason);
    let proposed = proposed_adjustment(e.previous_budget, entropy, &params);
    assert_eq!(proposed.value, e.proposed_value);
    let rule = match proposed.adjustment_type {
        AdjustmentType::Initial => BudgetRule::Initial,
        AdjustmentType::Boost => BudgetRule::Boost,
        _ => BudgetRule::Decay,
    };
    assert_eq!(e.rule(), rule);
    assert_eq!(e.clamp(), clamp_of(e.proposed_value, e.floor, e.ceiling));
    assert_eq!(record.entropy_at_time, Some(entropy));
}

fn fraction() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(1.0), 0.0..=1.0f64]
}

fn bounds() -> impl Strategy<Value = Bounds> {
    (fraction(), fraction()).prop_map(|(a, b)| Bounds {
        floor: a.min(b),
        ceiling: a.max(b),
    })
}

fn params() -> impl Strategy<Value = AdjustmentParams> {
    (bounds(), 0.01..=1.0f64, fraction(), fraction(), fraction()).prop_map(
        |(bounds, decay_rate, boost_amount, entropy_threshold, initial_budget)| AdjustmentParams {
            bounds,
            decay_rate,
            boost_amount,
            entropy_threshold,
            initial_budget,
        },
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

// Each case is a few round trips to one server (started once per property).
proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Initial, boost and decay, clamped or not: the stored inputs give the
    /// record's value, type and reason again, and they are the inputs sent.
    #[test]
    fn adjustments_are_reproduced_by_their_stored_inputs(
        params in params(),
        entropies in prop::collection::vec(fraction(), 1..6),
    ) {
        let rt = runtime();
        rt.block_on(async {
            let server = start().await;
            let job = fresh_job("adjust");
            let mut previous: Option<pb::ExplorationBudgetRecord> = None;
            for (step, entropy) in entropies.iter().enumerate() {
                let request_id = format!("{job}-{step}");
                let record = adjust(&server, &job, *entropy, &params, &request_id).await;
                assert_adjustment_reproduced(&record);
                let e = explanation(&record);
                assert_eq!(stored_params(e), params, "the inputs sent are the inputs stored");
                assert_eq!(e.entropy, Some(*entropy));
                assert_eq!(e.previous_record_id, previous.as_ref().map(|p| p.id.clone()));
                assert_eq!(e.previous_budget, previous.as_ref().map(|p| p.budget_value));
                assert_eq!(e.request_id, request_id);
                assert_eq!(e.instance_id, INSTANCE);
                previous = Some(record);
            }
            // The reads return what the writes returned.
            let mut read = server.budget_history(&job).await;
            read.reverse();
            prop_assert_eq!(read.len(), entropies.len());
            prop_assert_eq!(read.last(), previous.as_ref());
            server.stop().await;
            Ok::<(), TestCaseError>(())
        })?;
    }

    /// UpdateExplorationBudget: the caller's value clamped by the stored bounds.
    #[test]
    fn explicit_updates_are_reproduced_by_their_stored_inputs(
        value in -0.5..1.5f64,
        kind in prop::sample::select(AdjustmentType::ALL.to_vec()),
        bounds in bounds(),
    ) {
        let rt = runtime();
        rt.block_on(async {
            let server = start().await;
            let job = fresh_job("update");
            let first = update(&server, &job, 0.2, AdjustmentType::Initial, Bounds::default()).await;
            let record = update(&server, &job, value, kind, bounds).await;
            let e = explanation(&record);
            prop_assert_eq!(e.rule(), BudgetRule::ExplicitUpdate);
            prop_assert_eq!(e.proposed_value, value);
            prop_assert_eq!(e.requested_adjustment_type.as_deref(), Some(kind.as_str()));
            let requested = AdjustmentType::parse(e.requested_adjustment_type.as_deref().unwrap())
                .expect("a known type");
            let again = BudgetProposal { value: e.proposed_value, adjustment_type: requested, reason: None }
                .enforce(Bounds { floor: e.floor, ceiling: e.ceiling });
            prop_assert_eq!(again.value, record.budget_value);
            prop_assert_eq!(again.adjustment_type.as_str(), record.stored_adjustment_type.as_str());
            prop_assert_eq!(e.clamp(), clamp_of(value, bounds.floor, bounds.ceiling));
            prop_assert_eq!(e.previous_record_id.as_deref(), Some(first.id.as_str()));
            prop_assert_eq!(e.entropy_threshold, None);
            prop_assert_eq!(e.decay_rate, None);
            server.stop().await;
            Ok::<(), TestCaseError>(())
        })?;
    }

    /// The budget boost of an entropy response, from the job's budget or the
    /// fixed base, linked both ways to its response.
    #[test]
    fn response_boosts_are_reproduced_by_their_stored_inputs(
        start_value in prop::option::of(fraction()),
        boost in fraction(),
        bounds in bounds(),
        entropy in fraction(),
        threshold in fraction(),
    ) {
        let rt = runtime();
        rt.block_on(async {
            let server = start().await;
            let job = fresh_job("boost");
            let earlier = match start_value {
                Some(value) => Some(update(&server, &job, value, AdjustmentType::Initial, Bounds { floor: 0.0, ceiling: 1.0 }).await),
                None => None,
            };
            let mut request = trigger_request(&job, entropy, threshold);
            request.config = Some(pb::EntropyResponseConfig {
                revisit_quarantine: Some(false),
                budget_boost_amount: Some(boost),
                budget_floor: Some(bounds.floor),
                budget_ceiling: Some(bounds.ceiling),
                ..Default::default()
            });
            let response = server.entropy().trigger_entropy_response(request).await
                .expect("trigger").into_inner().record.expect("record");
            let why = response.explanation.as_ref().expect("a response explanation");
            let records = server.budget_history(&job).await;
            let record = &records[0];
            prop_assert_eq!(why.budget_record_id.as_deref(), Some(record.id.as_str()));
            let e = explanation(record);
            prop_assert_eq!(e.rule(), BudgetRule::ResponseBoost);
            prop_assert_eq!(e.response_id.as_deref(), Some(response.id.as_str()));
            prop_assert_eq!(e.previous_budget, earlier.as_ref().map(|r| r.budget_value));
            prop_assert_eq!(e.initial_budget, earlier.is_none().then_some(0.15));
            let again = response_boost(
                e.previous_budget,
                e.boost_amount.expect("boost_amount"),
                e.entropy.expect("entropy"),
                e.entropy_threshold.expect("entropy_threshold"),
                Bounds { floor: e.floor, ceiling: e.ceiling },
            );
            prop_assert_eq!(again.value, record.budget_value);
            prop_assert_eq!(again.adjustment_type.as_str(), record.stored_adjustment_type.as_str());
            prop_assert_eq!(again.reason.as_ref(), record.adjustment_reason.as_ref());
            prop_assert_eq!(e.proposed_value, e.previous_budget.unwrap_or(0.15) + boost);
            prop_assert_eq!(e.clamp(), clamp_of(e.proposed_value, bounds.floor, bounds.ceiling));
            prop_assert_eq!(why.trigger(), ResponseTrigger::Explicit);
            prop_assert_eq!((why.diversity, why.threshold), (entropy, threshold));
            prop_assert_eq!(why.cooldown_seconds, None);
            server.stop().await;
            Ok::<(), TestCaseError>(())
        })?;
    }
}

/// Each rule once, with values computed by hand.
#[tokio::test]
async fn every_rule_is_explained_with_hand_computed_values() {
    let server = start().await;
    let params = AdjustmentParams::default();
    let first = adjust(&server, "hand", 0.2, &params, "").await;
    let e = explanation(&first);
    assert_eq!(
        (e.rule(), e.clamp()),
        (BudgetRule::Initial, BudgetClamp::None)
    );
    assert_eq!(first.budget_value, 0.15);
    assert_eq!(e.previous_budget, None);
    assert_eq!(e.request_id, "", "no request_id was sent");

    let boost = adjust(&server, "hand", 0.1, &params, "").await;
    let e = explanation(&boost);
    assert_eq!(
        (e.rule(), e.clamp()),
        (BudgetRule::Boost, BudgetClamp::None)
    );
    assert_eq!(boost.budget_value, 0.25);
    assert_eq!(e.previous_budget, Some(0.15));
    assert_eq!(e.previous_record_id.as_deref(), Some(first.id.as_str()));

    let decay = adjust(&server, "hand", 0.5, &params, "").await;
    let e = explanation(&decay);
    assert_eq!(
        (e.rule(), e.clamp()),
        (BudgetRule::Decay, BudgetClamp::None)
    );
    assert_eq!(decay.budget_value, 0.2375);
    assert_eq!(e.decay_rate, Some(0.95));

    update(
        &server,
        "hand",
        0.45,
        AdjustmentType::Boost,
        Bounds::default(),
    )
    .await;
    let ceiling = adjust(&server, "hand", 0.1, &params, "").await;
    let e = explanation(&ceiling);
    assert_eq!(
        (e.rule(), e.clamp()),
        (BudgetRule::Boost, BudgetClamp::Ceiling)
    );
    assert_eq!(ceiling.budget_value, 0.5);
    assert!((e.proposed_value - 0.55).abs() < 1e-12);

    let low = AdjustmentParams {
        decay_rate: 0.05,
        ..params
    };
    let floor = adjust(&server, "hand", 0.9, &low, "").await;
    let e = explanation(&floor);
    assert_eq!(
        (e.rule(), e.clamp()),
        (BudgetRule::Decay, BudgetClamp::Floor)
    );
    assert_eq!(floor.budget_value, 0.05);
    assert_eq!(floor.stored_adjustment_type, "floor_enforced");

    let explicit = update(
        &server,
        "hand",
        0.7,
        AdjustmentType::Boost,
        Bounds::default(),
    )
    .await;
    let e = explanation(&explicit);
    assert_eq!(
        (e.rule(), e.clamp()),
        (BudgetRule::ExplicitUpdate, BudgetClamp::Ceiling)
    );
    assert_eq!(e.proposed_value, 0.7);
    assert_eq!(explicit.budget_value, 0.5);

    let response = server
        .entropy()
        .trigger_entropy_response(trigger_request("hand", 0.1, 0.3))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    let latest = server
        .budget()
        .get_exploration_budget(pb::GetExplorationBudgetRequest {
            job_hash: Some("hand".into()),
        })
        .await
        .unwrap()
        .into_inner()
        .budget
        .unwrap();
    let e = explanation(&latest);
    assert_eq!(
        (e.rule(), e.clamp()),
        (BudgetRule::ResponseBoost, BudgetClamp::Ceiling)
    );
    assert_eq!(e.response_id.as_deref(), Some(response.id.as_str()));
    assert_eq!(e.previous_budget, Some(0.5));
    assert!(
        !response.budget_boosted,
        "clamped at the ceiling: not a boost"
    );
    server.stop().await;
}

async fn record_pattern(
    server: &TestServer,
    name: &str,
    status: pb::QuarantineStatus,
    applications: usize,
) -> String {
    let id = server
        .patterns()
        .record_pattern(pb::RecordPatternRequest {
            pattern_type: "retry".into(),
            pattern_name: name.into(),
            quarantine_status: Some(status as i32),
            ..Default::default()
        })
        .await
        .expect("pattern")
        .into_inner()
        .pattern
        .expect("pattern")
        .id;
    for n in 0..applications {
        server
            .patterns()
            .record_pattern_application(pb::RecordPatternApplicationRequest {
                pattern_id: id.clone(),
                execution_id: format!("{name}-{n}"),
                pattern_led_to_success: true,
                ..Default::default()
            })
            .await
            .expect("application");
    }
    id
}

/// A measured response names the check's inputs, what it measured, the
/// patterns it considered and revisited, the request and the instance; the
/// next one names the previous response and the time since.
#[tokio::test]
async fn checked_responses_explain_the_check_and_the_revisits() {
    let server = start().await;
    record_pattern(&server, "busy", pb::QuarantineStatus::Validated, 30).await;
    record_pattern(&server, "rare", pb::QuarantineStatus::Validated, 1).await;
    let q1 = record_pattern(&server, "q1", pb::QuarantineStatus::Quarantined, 0).await;
    let q2 = record_pattern(&server, "q2", pb::QuarantineStatus::Quarantined, 0).await;
    let measured = server
        .entropy()
        .calculate_pattern_entropy(pb::CalculatePatternEntropyRequest::default())
        .await
        .unwrap()
        .into_inner()
        .metrics
        .unwrap();
    let ask = |request_id: &str| pb::RespondToEntropyIfNeededRequest {
        job_hash: "checked".into(),
        entropy_threshold: Some(0.9),
        cooldown_seconds: Some(0),
        config: Some(pb::EntropyResponseConfig {
            max_quarantine_revisits: Some(5),
            ..Default::default()
        }),
        request_id: request_id.into(),
        ..Default::default()
    };
    let answer = server
        .entropy()
        .respond_to_entropy_if_needed(ask("first"))
        .await
        .unwrap()
        .into_inner();
    assert!(answer.needs_response, "{answer:?}");
    let response = answer.response.expect("a response");
    let e = response.explanation.as_ref().expect("an explanation");
    assert_eq!(e.trigger(), ResponseTrigger::Check);
    common::approx(e.diversity, measured.diversity_index);
    assert_eq!(e.diversity, response.entropy_at_trigger);
    assert_eq!(e.threshold, 0.9);
    assert_eq!(e.cooldown_seconds, Some(0));
    common::approx(
        e.shannon_entropy.expect("measured"),
        measured.shannon_entropy,
    );
    assert_eq!(
        e.effective_pattern_count,
        Some(measured.effective_pattern_count)
    );
    assert_eq!(e.total_applications, Some(31));
    assert_eq!(e.previous_response_id, None);
    let mut considered = e.patterns_considered.clone();
    considered.sort();
    let mut quarantined = vec![q1.clone(), q2.clone()];
    quarantined.sort();
    assert_eq!(considered, quarantined);
    assert_eq!(e.patterns_revisited, response.patterns_revisited);
    assert_eq!(e.max_quarantine_revisits, 5);
    assert_eq!(
        (e.request_id.as_str(), e.instance_id.as_str()),
        ("first", INSTANCE)
    );
    let boost = e.budget_record_id.clone().expect("the boost's record");

    let second = server
        .entropy()
        .respond_to_entropy_if_needed(ask("second"))
        .await
        .unwrap()
        .into_inner()
        .response
        .expect("a second response (cooldown 0)");
    let e2 = second.explanation.as_ref().unwrap();
    assert_eq!(
        e2.previous_response_id.as_deref(),
        Some(response.id.as_str())
    );
    let since = e2.seconds_since_previous_response.expect("seconds since");
    assert!((0.0..60.0).contains(&since), "{since}");
    assert!(
        e2.patterns_considered.is_empty(),
        "both were revisited before"
    );

    // The reads return the same explanations, and the boost links back.
    let last = server
        .entropy()
        .get_last_entropy_response(pb::GetLastEntropyResponseRequest {
            job_hash: Some("checked".into()),
        })
        .await
        .unwrap()
        .into_inner()
        .response
        .unwrap();
    assert_eq!(last, second);
    let listed = server.response_history("checked").await;
    assert_eq!(listed, vec![second.clone(), response.clone()]);
    let budget = server.budget_history("checked").await;
    let first_boost = budget.iter().find(|r| r.id == boost).expect("boost record");
    assert_eq!(
        explanation(first_boost).response_id.as_deref(),
        Some(response.id.as_str())
    );
    server.stop().await;
}

#[tokio::test]
async fn a_named_snapshot_is_kept_and_an_unknown_one_is_refused() {
    let server = start().await;
    let snapshot = server.record_snapshot(common::valid::metrics()).await.id;
    let mut request = trigger_request("snap", 0.1, 0.3);
    request.trigger.as_mut().unwrap().snapshot_id = Some(snapshot.clone());
    let response = server
        .entropy()
        .trigger_entropy_response(request.clone())
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    let e = response.explanation.unwrap();
    assert_eq!(e.snapshot_id, Some(snapshot));

    let before = server.row_counts();
    request.trigger.as_mut().unwrap().snapshot_id = Some("no-such-snapshot".into());
    let status = server
        .entropy()
        .trigger_entropy_response(request)
        .await
        .unwrap_err();
    common::assert_invalid(&status, "trigger.snapshot_id");
    assert_eq!(
        server.row_counts(),
        before,
        "a refused trigger writes nothing"
    );
    server.stop().await;
}

/// A retried request gets the first run's record back, explanation included.
#[tokio::test]
async fn a_retry_replays_the_explanation_of_the_first_run() {
    let server = start().await;
    let params = AdjustmentParams::default();
    let first = adjust(&server, "retry", 0.1, &params, "same-id").await;
    let again = adjust(&server, "retry", 0.1, &params, "same-id").await;
    assert_eq!(first, again);
    assert_eq!(explanation(&again).request_id, "same-id");
    assert_eq!(server.budget_history("retry").await.len(), 1);
    server.stop().await;
}

/// Rows as another program (or an earlier release) writes them: straight
/// into the tables, with no explanation.
async fn seed_rows_without_explanations(server: &TestServer) {
    match backend::chosen() {
        backend::Backend::Sqlite => server
            .sql()
            .execute_batch(
                "INSERT INTO exploration_budget VALUES
                   ('3f2c1a9e-0b7d-4c55-9a51-2f0e8d6b1c01', 'old', '2025-01-01T09:00:00', 0.15, 0.2, 'initial', 'Initial budget set'),
                   ('3f2c1a9e-0b7d-4c55-9a51-2f0e8d6b1c02', 'old', '2025-01-01 10:00:00', 0.25, 0.1, 'boost', NULL);
                 INSERT INTO entropy_responses VALUES
                   ('6a1e4c0d-7f3b-4e2a-8c9d-0e1f2a3b4c01', 'old', '2025-01-01T10:00:00', 0.1, 0.3,
                    '[\"budget_boost\"]', 1, 0, NULL);",
            )
            .expect("seed the original's rows"),
        backend::Backend::Postgres => {
            let url = backend::postgres_url_for(&backend::schema_for(&server.db)).await;
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(connection);
            client
                .batch_execute(
                    "UPDATE ls_counters SET value = value + 2 WHERE name = 'exploration_budget';
                     UPDATE ls_counters SET value = value + 1 WHERE name = 'entropy_responses';
                     INSERT INTO exploration_budget VALUES
                       ((SELECT value - 1 FROM ls_counters WHERE name = 'exploration_budget'),
                        '3f2c1a9e-0b7d-4c55-9a51-2f0e8d6b1c01', 'old', '2025-01-01T09:00:00', 0.15, 0.2, 'initial', 'Initial budget set'),
                       ((SELECT value FROM ls_counters WHERE name = 'exploration_budget'),
                        '3f2c1a9e-0b7d-4c55-9a51-2f0e8d6b1c02', 'old', '2025-01-01T10:00:00', 0.25, 0.1, 'boost', NULL);
                     INSERT INTO entropy_responses VALUES
                       ((SELECT value FROM ls_counters WHERE name = 'entropy_responses'),
                        '6a1e4c0d-7f3b-4e2a-8c9d-0e1f2a3b4c01', 'old', '2025-01-01T10:00:00', 0.1, 0.3,
                        '[\"budget_boost\"]', 1, 0, NULL);",
                )
                .await
                .expect("seed rows of an earlier release");
        }
    }
}

#[tokio::test]
async fn rows_in_the_original_format_read_back_without_an_explanation() {
    let server = start().await;
    seed_rows_without_explanations(&server).await;
    let old = server.budget_history("old").await;
    assert_eq!(old.len(), 2);
    assert!(old.iter().all(|r| r.explanation.is_none()), "{old:?}");
    let responses = server.response_history("old").await;
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].explanation, None);

    // The next record of the job builds on the original's latest row.
    let next = adjust(&server, "old", 0.5, &AdjustmentParams::default(), "").await;
    let e = explanation(&next);
    assert_eq!(
        e.previous_record_id.as_deref(),
        Some("3f2c1a9e-0b7d-4c55-9a51-2f0e8d6b1c02")
    );
    assert_eq!(e.previous_budget, Some(0.25));
    assert_adjustment_reproduced(&next);
    let listed = server.budget_history("old").await;
    assert_eq!(listed[0].explanation.as_ref(), Some(e));
    assert_eq!(listed[1].explanation, None);
    server.stop().await;
}

/// The next record of a watch, past progress and caught-up markers.
async fn next_record<M, R>(stream: &mut tonic::Streaming<M>, record: impl Fn(M) -> Option<R>) -> R {
    loop {
        let message = timeout(WAIT, stream.message())
            .await
            .expect("in time")
            .expect("stream ok")
            .expect("stream open");
        if let Some(found) = record(message) {
            return found;
        }
    }
}

async fn next_budget(
    stream: &mut tonic::Streaming<pb::WatchExplorationBudgetResponse>,
) -> pb::ExplorationBudgetRecord {
    next_record(stream, |m| match m.event {
        Some(BudgetEvent::Record(record)) => Some(record),
        _ => None,
    })
    .await
}

async fn next_response(
    stream: &mut tonic::Streaming<pb::WatchEntropyResponsesResponse>,
) -> pb::EntropyResponseRecord {
    next_record(stream, |m| match m.event {
        Some(ResponseEvent::Record(record)) => Some(record),
        _ => None,
    })
    .await
}

/// Backfilled and live records carry their explanations; the original's
/// rows stream without one.
#[tokio::test]
async fn the_streams_carry_explanations() {
    let server = start().await;
    seed_rows_without_explanations(&server).await;
    let written = adjust(
        &server,
        "old",
        0.1,
        &AdjustmentParams::default(),
        "streamed",
    )
    .await;
    let mut budget = server
        .budget()
        .watch_exploration_budget(pb::WatchExplorationBudgetRequest {
            job_hash: Some("old".into()),
            backfill: Some(3),
            after_cursor: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut responses = server
        .entropy()
        .watch_entropy_responses(pb::WatchEntropyResponsesRequest {
            job_hash: Some("old".into()),
            backfill: Some(1),
            after_cursor: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_budget(&mut budget).await.explanation, None);
    assert_eq!(next_budget(&mut budget).await.explanation, None);
    assert_eq!(next_budget(&mut budget).await, written);
    assert_eq!(next_response(&mut responses).await.explanation, None);

    let response = server
        .entropy()
        .trigger_entropy_response(trigger_request("old", 0.1, 0.3))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    let boost = next_budget(&mut budget).await;
    assert_eq!(explanation(&boost).rule(), BudgetRule::ResponseBoost);
    assert_eq!(
        explanation(&boost).response_id.as_deref(),
        Some(response.id.as_str())
    );
    let streamed = next_response(&mut responses).await;
    assert!(streamed.explanation.is_some());
    assert_eq!(streamed, response);
    server.stop().await;
}

fn explanation_rows(server: &TestServer, table: &str) -> i64 {
    server.scalar(&format!("SELECT COUNT(*) FROM {table}"))
}

/// Retention deletes a record's explanation with the record, in its
/// transaction, on either backend.
#[tokio::test]
async fn retention_deletes_explanations_with_their_records() {
    let server = start().await;
    let params = AdjustmentParams::default();
    for entropy in [0.1, 0.5, 0.2, 0.6] {
        adjust(&server, "kept", entropy, &params, "").await;
    }
    for _ in 0..3 {
        server
            .entropy()
            .trigger_entropy_response(trigger_request("kept", 0.1, 0.3))
            .await
            .unwrap();
    }
    assert_eq!(explanation_rows(&server, "ls_budget_explanation"), 7);
    assert_eq!(explanation_rows(&server, "ls_response_explanation"), 3);
    let retention = Retention {
        before: Some(chrono::Utc::now() + chrono::Duration::days(1)),
        budget_rows_per_job: Some(2),
    };
    while server
        .store()
        .prune_history(retention, 100)
        .await
        .unwrap()
        .total()
        > 0
    {}
    let kept = server.budget_history("kept").await;
    assert_eq!(kept.len(), 1, "the job's latest budget stays");
    assert!(kept[0].explanation.is_some());
    assert_eq!(explanation_rows(&server, "ls_budget_explanation"), 1);
    assert_eq!(explanation_rows(&server, "ls_response_explanation"), 1);
    let orphans = server.scalar(
        "SELECT (SELECT COUNT(*) FROM ls_budget_explanation x WHERE NOT EXISTS \
         (SELECT 1 FROM exploration_budget b WHERE b.id = x.record_id)) + \
         (SELECT COUNT(*) FROM ls_response_explanation x WHERE NOT EXISTS \
         (SELECT 1 FROM entropy_responses r WHERE r.id = x.record_id))",
    );
    assert_eq!(orphans, 0);
    server.stop().await;
}

/// The default instance id names the host, this process and its start.
#[tokio::test]
async fn the_default_instance_id_names_host_process_and_start() {
    let server = TestServer::start().await;
    let record = adjust(&server, "who", 0.1, &AdjustmentParams::default(), "").await;
    let id = &explanation(&record).instance_id;
    let parts: Vec<&str> = id.split(':').collect();
    assert_eq!(parts.len(), 3, "{id}");
    assert!(!parts[0].is_empty(), "{id}");
    assert_eq!(parts[1], std::process::id().to_string());
    assert_eq!(parts[2].len(), "20260101T000000Z".len(), "{id}");
    server.stop().await;
}

async fn cli(server: &TestServer, args: &[&str]) -> cli_support::Run {
    let address = format!("http://{}", server.address);
    let mut all = args.to_vec();
    all.extend(["--server", address.as_str()]);
    cli_support::run(&all).await
}

#[tokio::test]
async fn the_cli_shows_explanations() {
    let server = start().await;
    seed_rows_without_explanations(&server).await;
    let params = AdjustmentParams::default();
    adjust(&server, "old", 0.6, &params, "orchestrator-7").await;
    let out = cli(&server, &["budget", "-j", "old", "--history", "--explain"]).await;
    let text = out.ok();
    assert!(
        text.contains("Rule:        decay: 0.2500 x 0.9500 = 0.2375"),
        "{text}"
    );
    assert!(
        text.contains("Because:     entropy 0.6000 >= threshold 0.3000"),
        "{text}"
    );
    assert!(
        text.contains("Previous:    0.2500 (record 3f2c1a9e-0b7d-4c55-9a51-2f0e8d6b1c02)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("instance {INSTANCE}, request_id orchestrator-7")),
        "{text}"
    );
    assert!(text.contains("Explanation:  none recorded"), "{text}");

    let json = cli(&server, &["budget", "-j", "old", "--history", "--json"])
        .await
        .json();
    let newest = &json[0]["explanation"];
    assert_eq!(newest["rule"], "decay");
    assert_eq!(newest["clamp"], "none");
    assert_eq!(newest["previous_budget"], 0.25);
    assert_eq!(newest["decay_rate"], 0.95);
    assert_eq!(newest["request_id"], "orchestrator-7");
    assert!(json[1]["explanation"].is_null());

    server
        .entropy()
        .trigger_entropy_response(trigger_request("old", 0.1, 0.3))
        .await
        .unwrap();
    let out = cli(
        &server,
        &["responses", "-j", "old", "--history", "--explain"],
    )
    .await;
    let text = out.ok();
    assert!(
        text.contains("Trigger:     explicit: diversity 0.1000 < threshold 0.3000"),
        "{text}"
    );
    assert!(text.contains("Cooldown:    not checked"), "{text}");
    let json = cli(&server, &["responses", "-j", "old", "--history", "--json"])
        .await
        .json();
    assert_eq!(json[0]["explanation"]["trigger"], "explicit");
    assert!(json[1]["explanation"].is_null());
    server.stop().await;
}

/// The service's own responder says so, without a request_id.
#[tokio::test]
async fn the_automatic_responder_is_named_in_its_explanations() {
    let options = StoreOptions {
        instance_id: INSTANCE.into(),
        ..StoreOptions::default()
    };
    let server = TestServer::start_with_store(
        ServerOptions {
            responder: Some(ResponderOptions {
                jobs: vec!["auto".into()],
                interval: Duration::from_millis(50),
                entropy_threshold: 0.9,
                cooldown_seconds: 3600,
                config: ResponseConfig::default(),
                diversity: Default::default(),
            }),
            ..ServerOptions::default()
        },
        options,
    )
    .await;
    record_pattern(&server, "busy", pb::QuarantineStatus::Validated, 9).await;
    record_pattern(&server, "rare", pb::QuarantineStatus::Validated, 1).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let response = loop {
        let last = server
            .entropy()
            .get_last_entropy_response(pb::GetLastEntropyResponseRequest {
                job_hash: Some("auto".into()),
            })
            .await
            .unwrap()
            .into_inner()
            .response;
        if let Some(response) = last {
            break response;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no automatic response"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let e = response.explanation.expect("an explanation");
    assert_eq!(e.trigger(), ResponseTrigger::Automatic);
    assert_eq!(e.cooldown_seconds, Some(3600));
    assert_eq!(e.threshold, 0.9);
    // The responder may have run between two of the applications above.
    assert!(e.total_applications.unwrap_or(0) > 0, "{e:?}");
    assert_eq!(
        (e.request_id.as_str(), e.instance_id.as_str()),
        ("", INSTANCE)
    );
    server.stop().await;
}

const EARLIER_LAYOUT: &str = include_str!("fixtures/explanations_keyed_by_id.sql");

/// The explanation table's columns, as SQLite lists them.
fn columns(server: &TestServer, table: &str) -> Vec<String> {
    server.texts(&format!("SELECT name FROM pragma_table_info('{table}')"))
}

/// A file whose explanations an earlier release wrote (keyed by record id)
/// is rebuilt on open, keeping every explanation; what is written and
/// deleted afterwards keeps them in step.
#[tokio::test]
async fn explanations_of_the_earlier_layout_are_kept_when_the_file_is_opened() {
    if !backend::require_sqlite("explanations_of_the_earlier_layout_are_kept") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    let server = TestServer::start_on(db.clone()).await;
    let params = AdjustmentParams::default();
    for entropy in [0.1, 0.5, 0.2] {
        adjust(&server, "layout", entropy, &params, "").await;
    }
    server
        .entropy()
        .trigger_entropy_response(trigger_request("layout", 0.1, 0.3))
        .await
        .unwrap();
    let budgets = server.budget_history("layout").await;
    let responses = server.response_history("layout").await;
    assert_eq!((budgets.len(), responses.len()), (4, 1));
    server.sql().execute_batch(EARLIER_LAYOUT).unwrap();
    assert!(!columns(&server, "ls_budget_explanation").contains(&"record_rowid".to_owned()));
    server.stop().await;

    let server = TestServer::start_on(db).await;
    for table in ["ls_budget_explanation", "ls_response_explanation"] {
        assert_eq!(
            columns(&server, table),
            ["record_rowid", "record_id", "explanation"]
        );
    }
    assert_eq!(server.budget_history("layout").await, budgets);
    assert!(budgets.iter().all(|r| r.explanation.is_some()));
    assert_eq!(server.response_history("layout").await, responses);
    assert!(responses[0].explanation.is_some());

    // The next record builds on the rebuilt latest one; a deleted record
    // takes its explanation along (the trigger of the new layout).
    let next = adjust(&server, "layout", 0.6, &params, "").await;
    assert_eq!(
        explanation(&next).previous_record_id.as_deref(),
        Some(budgets[0].id.as_str())
    );
    assert_eq!(server.budget_history("layout").await[1..], budgets[..]);
    let oldest = &budgets[budgets.len() - 1].id;
    server.execute(&format!(
        "DELETE FROM exploration_budget WHERE id = '{oldest}'"
    ));
    assert_eq!(explanation_rows(&server, "ls_budget_explanation"), 4);
    server.stop().await;
}
