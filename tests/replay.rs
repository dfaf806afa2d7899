//! BudgetService.ReplayBudgetPolicy over a real server: the recorded policy
//! replays to the recorded history, hand-computed trajectories, what is left
//! out, ranges, bounds and bad input. Runs on PostgreSQL too
//! (LEARNING_TEST_BACKEND=postgres).

// Only `run` is used here; the rest serves tests/cli.rs.
#[allow(unused_imports)]
mod cli_support;
mod common;

use common::{TestServer, assert_invalid};
use learning_service::pb::{self, AdjustmentType, budget_service_client::BudgetServiceClient};
use tonic::{Code, transport::Channel};

type Client = BudgetServiceClient<Channel>;

/// The tuning of a CalculateBudgetAdjustment call, as a replay candidate.
#[derive(Clone, Copy, Default)]
struct Tuning {
    floor: Option<f64>,
    ceiling: Option<f64>,
    decay_rate: Option<f64>,
    boost_amount: Option<f64>,
    entropy_threshold: Option<f64>,
    initial_budget: Option<f64>,
}

impl Tuning {
    fn policy(self) -> pb::BudgetPolicy {
        pb::BudgetPolicy {
            floor: self.floor,
            ceiling: self.ceiling,
            decay_rate: self.decay_rate,
            boost_amount: self.boost_amount,
            entropy_threshold: self.entropy_threshold,
            initial_budget: self.initial_budget,
            ..Default::default()
        }
    }
}

async fn adjust(
    client: &mut Client,
    job: &str,
    entropy: f64,
    t: Tuning,
) -> pb::ExplorationBudgetRecord {
    client
        .calculate_budget_adjustment(pb::CalculateBudgetAdjustmentRequest {
            job_hash: job.into(),
            current_entropy: entropy,
            floor: t.floor,
            ceiling: t.ceiling,
            decay_rate: t.decay_rate,
            boost_amount: t.boost_amount,
            entropy_threshold: t.entropy_threshold,
            initial_budget: t.initial_budget,
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap()
}

fn request(job: &str, candidates: Vec<pb::BudgetPolicy>) -> pb::ReplayBudgetPolicyRequest {
    pb::ReplayBudgetPolicyRequest {
        job_hash: job.into(),
        candidates,
        ..Default::default()
    }
}

async fn replay(
    client: &mut Client,
    r: pb::ReplayBudgetPolicyRequest,
) -> pb::ReplayBudgetPolicyResponse {
    client.replay_budget_policy(r).await.unwrap().into_inner()
}

fn values(replay: &pb::PolicyReplay) -> Vec<f64> {
    replay.steps.iter().map(|s| s.budget_value).collect()
}

fn types(replay: &pb::PolicyReplay) -> Vec<AdjustmentType> {
    replay.steps.iter().map(|s| s.adjustment_type()).collect()
}

fn summary(replay: &pb::PolicyReplay) -> pb::ReplaySummary {
    replay.summary.unwrap()
}

/// Deterministic entropies in [0, 1] (an LCG), in runs of 25: low runs
/// reach the ceiling, healthy runs the floor.
fn entropies(n: usize) -> Vec<f64> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let e = (state >> 11) as f64 / (1u64 << 53) as f64;
            if (i / 25).is_multiple_of(2) {
                e * 0.35
            } else {
                0.45 + e * 0.55
            }
        })
        .collect()
}

#[tokio::test]
async fn replaying_the_recorded_policy_gives_the_recorded_history_back() {
    let server = TestServer::start().await;
    let mut client = server.budget();
    let live = Tuning {
        floor: Some(0.1),
        ceiling: Some(0.6),
        decay_rate: Some(0.8),
        boost_amount: Some(0.15),
        entropy_threshold: Some(0.4),
        initial_budget: Some(0.2),
    };
    let mut written = Vec::new();
    for entropy in entropies(150) {
        written.push(adjust(&mut client, "job-r", entropy, live).await);
    }
    // Another job's records are not this job's readings.
    adjust(&mut client, "job-other", 0.0, live).await;
    let kinds: Vec<i32> = written.iter().map(|r| r.adjustment_type).collect();
    for kind in [
        AdjustmentType::FloorEnforced,
        AdjustmentType::CeilingEnforced,
        AdjustmentType::Boost,
        AdjustmentType::Decay,
    ] {
        assert!(
            kinds.contains(&(kind as i32)),
            "the history never reached {kind:?}"
        );
    }

    let answer = replay(
        &mut client,
        request("job-r", vec![live.policy(), Tuning::default().policy()]),
    )
    .await;
    let actual = answer.actual.as_ref().unwrap();
    assert_eq!(answer.start_budget, None);
    assert_eq!(answer.records_left_out, 0);
    // The recorded trajectory is the history, oldest first.
    assert_eq!(actual.steps.len(), written.len());
    for (step, record) in actual.steps.iter().zip(&written) {
        assert_eq!(step.recorded_at, record.recorded_at);
        assert_eq!(Some(step.entropy), record.entropy_at_time);
        assert_eq!(step.budget_value, record.budget_value);
        assert_eq!(step.adjustment_type, record.adjustment_type);
    }
    // The live policy replays to exactly that: values bit for bit, rules.
    let same = &answer.candidates[0];
    assert_eq!(same.steps, actual.steps);
    assert_eq!(summary(same), summary(actual));
    let filled = same.policy.unwrap();
    assert_eq!(filled, live.policy());
    // The defaults give another trajectory over the same readings.
    let defaults = &answer.candidates[1];
    assert_eq!(defaults.steps.len(), actual.steps.len());
    assert_ne!(values(defaults), values(actual));
    assert_eq!(defaults.policy.unwrap().entropy_threshold, Some(0.3));

    // A range in the middle starts from the record before it, and still
    // reproduces the history.
    let since = written[40].recorded_at;
    let until = written[99].recorded_at;
    let middle = replay(
        &mut client,
        pb::ReplayBudgetPolicyRequest {
            since,
            until,
            ..request("job-r", vec![live.policy()])
        },
    )
    .await;
    assert_eq!(middle.start_budget, Some(written[39].budget_value));
    let actual = middle.actual.as_ref().unwrap();
    assert_eq!(actual.steps.len(), 60);
    assert_eq!(actual.steps[0].recorded_at, since);
    assert_eq!(actual.steps[59].recorded_at, until);
    assert_eq!(middle.candidates[0].steps, actual.steps);
    let expected: Vec<f64> = written[40..100].iter().map(|r| r.budget_value).collect();
    assert_eq!(values(actual), expected);
}

#[tokio::test]
async fn hand_computed_trajectories() {
    let server = TestServer::start().await;
    let mut client = server.budget();
    for entropy in [0.9, 0.1, 0.35, 0.0] {
        adjust(&mut client, "job-h", entropy, Tuning::default()).await;
    }
    let threshold_04 = pb::BudgetPolicy {
        entropy_threshold: Some(0.4),
        ..Default::default()
    };
    let halving = pb::BudgetPolicy {
        decay_rate: Some(0.5),
        entropy_threshold: Some(0.05),
        ..Default::default()
    };
    let responder = pb::BudgetPolicy {
        response_threshold: Some(0.2),
        response_cooldown_seconds: Some(0),
        ..Default::default()
    };
    let answer = replay(
        &mut client,
        request("job-h", vec![threshold_04, halving, responder]),
    )
    .await;
    use AdjustmentType::*;

    // Recorded (the defaults): 0.15 initial, +0.1, *0.95, +0.1.
    let actual = answer.actual.as_ref().unwrap();
    assert_eq!(values(actual), [0.15, 0.25, 0.25 * 0.95, 0.25 * 0.95 + 0.1]);
    assert_eq!(types(actual), [Initial, Boost, Decay, Boost]);
    let s = summary(actual);
    assert_eq!(
        (s.steps, s.boosts, s.decays, s.initials, s.responses),
        (4, 2, 1, 1, 0)
    );
    assert_eq!(s.final_budget, Some(0.25 * 0.95 + 0.1));

    // Threshold 0.4: 0.35 boosts too.
    let t = &answer.candidates[0];
    assert_eq!(values(t), [0.15, 0.25, 0.35, 0.44999999999999996]);
    assert_eq!(types(t), [Initial, Boost, Boost, Boost]);
    assert_eq!(summary(t).boosts, 3);
    assert_eq!(
        summary(t).mean_budget,
        (0.15 + 0.25 + 0.35 + 0.44999999999999996) / 4.0
    );

    // Halving above 0.05: 0.075, 0.0375 -> floor 0.05, then 0.0 boosts.
    let h = &answer.candidates[1];
    assert_eq!(values(h), [0.15, 0.075, 0.05, 0.15000000000000002]);
    assert_eq!(types(h), [Initial, Decay, FloorEnforced, Boost]);
    assert_eq!(summary(h).floor_share, 0.25);
    assert_eq!(summary(h).floor_enforcements, 1);
    assert_eq!(summary(h).min_budget, 0.05);

    // A responder below 0.2 without cooldown fires after 0.1 and 0.0; its
    // boost is where the next adjustment starts.
    let r = &answer.candidates[2];
    let fired: Vec<bool> = r.steps.iter().map(|s| s.response_fired).collect();
    assert_eq!(fired, [false, true, false, true]);
    assert_eq!(
        values(r),
        [0.15, 0.25, (0.25 + 0.1) * 0.95, (0.25 + 0.1) * 0.95 + 0.1]
    );
    assert_eq!(summary(r).responses, 2);
    let policy = r.policy.unwrap();
    assert_eq!(
        (policy.response_threshold, policy.response_cooldown_seconds),
        (Some(0.2), Some(0))
    );

    // summaries_only: the same summaries, no steps.
    let short = replay(
        &mut client,
        pb::ReplayBudgetPolicyRequest {
            summaries_only: true,
            ..request("job-h", vec![threshold_04])
        },
    )
    .await;
    assert!(short.actual.as_ref().unwrap().steps.is_empty());
    assert!(short.candidates[0].steps.is_empty());
    assert_eq!(summary(&short.candidates[0]), summary(t));
}

#[tokio::test]
async fn response_boosts_and_explicit_updates_are_not_readings() {
    let server = TestServer::start().await;
    let mut client = server.budget();
    adjust(&mut client, "job-x", 0.9, Tuning::default()).await;
    adjust(&mut client, "job-x", 0.1, Tuning::default()).await;
    server
        .entropy()
        .trigger_entropy_response(pb::TriggerEntropyResponseRequest {
            trigger: Some(pb::EntropyTriggerContext {
                job_hash: "job-x".into(),
                entropy_at_trigger: 0.1,
                threshold_used: 0.3,
                snapshot_id: None,
            }),
            config: None,
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
            job_hash: "job-x".into(),
            budget_value: 0.2,
            adjustment_type: AdjustmentType::Decay as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    let last = adjust(&mut client, "job-x", 0.5, Tuning::default()).await;
    assert_eq!(last.budget_value, 0.2 * 0.95);

    let answer = replay(
        &mut client,
        request("job-x", vec![Tuning::default().policy()]),
    )
    .await;
    assert_eq!(answer.records_left_out, 2);
    let actual = answer.actual.as_ref().unwrap();
    assert_eq!(values(actual), [0.15, 0.25, 0.2 * 0.95]);
    let fired: Vec<bool> = actual.steps.iter().map(|s| s.response_fired).collect();
    assert_eq!(fired, [false, true, false]);
    assert_eq!(summary(actual).responses, 1);
    // The candidate has no responder and no explicit update: it decays from 0.25.
    assert_eq!(values(&answer.candidates[0]), [0.15, 0.25, 0.25 * 0.95]);
    assert_eq!(summary(&answer.candidates[0]).responses, 0);
}

#[tokio::test]
async fn an_unknown_job_or_an_empty_range_replays_to_nothing() {
    let server = TestServer::start().await;
    let mut client = server.budget();
    let first = adjust(&mut client, "job-e", 0.5, Tuning::default()).await;
    let answer = replay(
        &mut client,
        request("nobody", vec![Tuning::default().policy()]),
    )
    .await;
    assert!(answer.actual.as_ref().unwrap().steps.is_empty());
    assert_eq!(
        summary(answer.actual.as_ref().unwrap()),
        pb::ReplaySummary::default()
    );
    assert_eq!(summary(&answer.candidates[0]), pb::ReplaySummary::default());
    assert_eq!(answer.start_budget, None);

    // A range after the only record starts from it and has no readings.
    let mut after = first.recorded_at.unwrap();
    after.seconds += 60;
    let later = replay(
        &mut client,
        pb::ReplayBudgetPolicyRequest {
            since: Some(after),
            ..request("job-e", vec![])
        },
    )
    .await;
    assert_eq!(later.start_budget, Some(first.budget_value));
    assert!(later.actual.unwrap().steps.is_empty());
    assert!(later.candidates.is_empty());
}

fn good() -> pb::BudgetPolicy {
    pb::BudgetPolicy::default()
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field() {
    let server = TestServer::start().await;
    let mut client = server.budget();
    adjust(&mut client, "job-b", 0.5, Tuning::default()).await;
    // One candidate that differs from the defaults in one field.
    let one = |change: fn(&mut pb::BudgetPolicy)| {
        let mut policy = good();
        change(&mut policy);
        request("job-b", vec![policy])
    };
    let cases: Vec<(pb::ReplayBudgetPolicyRequest, &str)> = vec![
        (request("", vec![]), "job_hash"),
        (request(&"j".repeat(257), vec![]), "job_hash"),
        (
            request(
                "job-b",
                vec![
                    good(),
                    pb::BudgetPolicy {
                        floor: Some(0.6),
                        ceiling: Some(0.4),
                        ..good()
                    },
                ],
            ),
            "candidates[1].floor",
        ),
        (
            one(|p| p.decay_rate = Some(0.0)),
            "candidates[0].decay_rate",
        ),
        (
            one(|p| p.decay_rate = Some(1.5)),
            "candidates[0].decay_rate",
        ),
        (
            one(|p| p.entropy_threshold = Some(f64::NAN)),
            "candidates[0].entropy_threshold",
        ),
        (
            one(|p| p.boost_amount = Some(-0.1)),
            "candidates[0].boost_amount",
        ),
        (
            one(|p| p.initial_budget = Some(f64::INFINITY)),
            "candidates[0].initial_budget",
        ),
        (
            one(|p| p.response_threshold = Some(1.5)),
            "candidates[0].response_threshold",
        ),
        (
            one(|p| p.response_cooldown_seconds = Some(-1)),
            "candidates[0].response_cooldown_seconds",
        ),
        (request("job-b", vec![good(); 33]), "candidates"),
        (
            pb::ReplayBudgetPolicyRequest {
                since: Some(prost_types::Timestamp {
                    seconds: 2_000,
                    nanos: 0,
                }),
                until: Some(prost_types::Timestamp {
                    seconds: 1_000,
                    nanos: 0,
                }),
                ..request("job-b", vec![])
            },
            "until",
        ),
        (
            pb::ReplayBudgetPolicyRequest {
                since: Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: -1,
                }),
                ..request("job-b", vec![])
            },
            "since",
        ),
    ];
    for (bad, field) in cases {
        let status = client.replay_budget_policy(bad).await.unwrap_err();
        assert_invalid(&status, field);
    }
    // 32 candidates are fine.
    let answer = replay(&mut client, request("job-b", vec![good(); 32])).await;
    assert_eq!(answer.candidates.len(), 32);
}

fn assert_out_of_range(status: &tonic::Status, message_start: &str) {
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(
        status.message().starts_with(message_start),
        "{}",
        status.message()
    );
}

/// The bounds of one call: 20,000 records in the range, and 100,000 steps
/// unless summaries_only.
#[tokio::test]
async fn ranges_and_answers_past_the_bounds_are_out_of_range() {
    let server = TestServer::start().await;
    let mut client = server.budget();
    // Two records one after the other, then 19,999 at once (in any order):
    // every one of those is recorded after the second.
    adjust(&mut client, "job-big", 0.5, Tuning::default()).await;
    let second = adjust(&mut client, "job-big", 0.1, Tuning::default()).await;
    let mut calls = tokio::task::JoinSet::new();
    let per_task = 19_999usize.div_ceil(50);
    let mut left = 19_999usize;
    for task in 0..50 {
        let n = per_task.min(left);
        left -= n;
        let mut client = server.budget();
        calls.spawn(async move {
            for i in 0..n {
                let entropy = ((task * 7 + i) % 10) as f64 / 10.0;
                adjust(&mut client, "job-big", entropy, Tuning::default()).await;
            }
        });
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap();
    }

    let status = client
        .replay_budget_policy(request("job-big", vec![]))
        .await
        .unwrap_err();
    assert_out_of_range(&status, "since: the range holds more than 20000");

    let from_second = |candidates| pb::ReplayBudgetPolicyRequest {
        since: second.recorded_at,
        ..request("job-big", candidates)
    };
    let four = vec![pb::BudgetPolicy::default(); 4];
    let answer = replay(&mut client, from_second(four)).await;
    assert_eq!(answer.actual.as_ref().unwrap().steps.len(), 20_000);
    assert_eq!(answer.candidates[3].steps.len(), 20_000);

    let five = vec![pb::BudgetPolicy::default(); 5];
    let status = client
        .replay_budget_policy(from_second(five.clone()))
        .await
        .unwrap_err();
    assert_out_of_range(&status, "candidates: 20000 readings x 6 trajectories");

    let answer = replay(
        &mut client,
        pb::ReplayBudgetPolicyRequest {
            summaries_only: true,
            ..from_second(five)
        },
    )
    .await;
    assert_eq!(summary(&answer.candidates[4]).steps, 20_000);
    assert_eq!(summary(answer.actual.as_ref().unwrap()).steps, 20_000);
}

/// `learning-service replay`: the table with a sparkline per policy, JSON,
/// and the exit codes of bad input.
#[tokio::test]
async fn the_replay_command_prints_the_comparison() {
    let server = TestServer::start().await;
    let mut client = server.budget();
    for entropy in [0.9, 0.1, 0.35, 0.0] {
        adjust(&mut client, "job-c", entropy, Tuning::default()).await;
    }
    let address = format!("http://{}", server.address);
    let args = |extra: &[&'static str]| {
        let mut all = vec!["replay", "--server", address.as_str(), "--job", "job-c"];
        all.extend_from_slice(extra);
        all
    };
    let table = cli_support::run(&args(&[
        "--threshold",
        "0.4",
        "--candidate",
        "decay=0.5,threshold=0.05",
    ]))
    .await;
    assert_eq!(table.code, Some(0), "{}", table.stderr);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(
        lines[0].contains("job job-c") && lines[0].contains("4 readings"),
        "{}",
        table.stdout
    );
    let row = |label: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no row {label}: {}", table.stdout))
            .to_string()
    };
    // Mean of 0.15, 0.25, 0.35, 0.45: 30.0%; its sparkline rises to the top
    // of the shared scale (0.05 to 0.45).
    let threshold = row("threshold=0.4 ");
    assert!(threshold.contains("30.0%"), "{threshold}");
    let bars: Vec<char> = threshold.trim_end().chars().rev().take(4).collect();
    assert!(bars.iter().all(|c| ('▁'..='█').contains(c)), "{threshold}");
    assert!(bars.windows(2).all(|w| w[0] >= w[1]), "{threshold}");
    assert_eq!(bars[0], '█', "{threshold}");
    // Halving: min 5.0% (the floor), max 15.0%.
    let halving = row("threshold=0.05 decay=0.5");
    assert!(
        halving.contains(" 5.0%") && halving.contains("15.0%"),
        "{halving}"
    );
    assert!(row("recorded").contains("15.0%"), "{}", table.stdout);

    let json = cli_support::run(&args(&["--threshold", "0.4", "--json"]))
        .await
        .json();
    let steps = json["candidates"][0]["steps"].as_array().unwrap();
    let values: Vec<f64> = steps
        .iter()
        .map(|s| s["budget_value"].as_f64().unwrap())
        .collect();
    // (serde_json's default parser may be one ulp off: compare closely.)
    for (got, want) in values.iter().zip([0.15, 0.25, 0.35, 0.45]) {
        assert!((got - want).abs() < 1e-12, "{values:?}");
    }
    assert_eq!(values.len(), 4);
    assert_eq!(steps[0]["adjustment_type"], "initial");
    assert_eq!(json["candidates"][0]["summary"]["boosts"], 3);
    assert_eq!(json["actual"]["summary"]["steps"], 4);
    assert_eq!(json["candidates"][0]["policy"]["entropy_threshold"], 0.4);

    let refused = cli_support::run(&args(&["--floor", "0.6", "--ceiling", "0.4"])).await;
    assert_eq!(refused.code, Some(1));
    assert!(
        refused
            .stderr
            .contains("INVALID_ARGUMENT: candidates[0].floor"),
        "{}",
        refused.stderr
    );
    let usage = cli_support::run(&args(&["--candidate", "speed=2"])).await;
    assert_eq!(usage.code, Some(2));
    assert!(usage.stderr.contains("unknown key"), "{}", usage.stderr);
}
