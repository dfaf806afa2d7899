//! Malformed requests across the RPCs, one table: each gets a precise status
//! (and, for INVALID_ARGUMENT, the field in the BadRequest detail) and writes
//! nothing to any table of the file.

mod common;

use common::{
    TestServer, assert_invalid,
    valid::{adjust, metrics, trigger_context as context, update},
};
use learning_service::pb::{self, QuarantineStatus};
use tonic::{Code, Status};

/// What a case expects.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// INVALID_ARGUMENT naming this field.
    Invalid(&'static str),
    /// Another status code.
    Code(Code),
}

/// Any request of the service.
#[derive(Clone, Debug)]
enum Call {
    Update(pb::UpdateExplorationBudgetRequest),
    Adjust(pb::CalculateBudgetAdjustmentRequest),
    BudgetHistory(pb::GetExplorationBudgetHistoryRequest),
    Budget(pb::GetExplorationBudgetRequest),
    BudgetStatistics(pb::GetExplorationBudgetStatisticsRequest),
    Trigger(pb::TriggerEntropyResponseRequest),
    Respond(pb::RespondToEntropyIfNeededRequest),
    Check(pb::CheckEntropyResponseNeededRequest),
    Snapshot(pb::RecordPatternEntropyRequest),
    Calculate(pb::CalculatePatternEntropyRequest),
    SnapshotHistory(pb::GetPatternEntropyHistoryRequest),
    ResponseHistory(pb::GetEntropyResponseHistoryRequest),
    Pattern(pb::RecordPatternRequest),
    Application(pb::RecordPatternApplicationRequest),
    Status(pb::SetPatternQuarantineStatusRequest),
    ListPatterns(pb::ListPatternsRequest),
}

impl Call {
    async fn send(self, server: &TestServer) -> Result<(), Status> {
        let (mut budget, mut entropy, mut patterns) =
            (server.budget(), server.entropy(), server.patterns());
        match self {
            Call::Update(r) => budget.update_exploration_budget(r).await.map(drop),
            Call::Adjust(r) => budget.calculate_budget_adjustment(r).await.map(drop),
            Call::BudgetHistory(r) => budget.get_exploration_budget_history(r).await.map(drop),
            Call::Budget(r) => budget.get_exploration_budget(r).await.map(drop),
            Call::BudgetStatistics(r) => {
                budget.get_exploration_budget_statistics(r).await.map(drop)
            }
            Call::Trigger(r) => entropy.trigger_entropy_response(r).await.map(drop),
            Call::Respond(r) => entropy.respond_to_entropy_if_needed(r).await.map(drop),
            Call::Check(r) => entropy.check_entropy_response_needed(r).await.map(drop),
            Call::Snapshot(r) => entropy.record_pattern_entropy(r).await.map(drop),
            Call::Calculate(r) => entropy.calculate_pattern_entropy(r).await.map(drop),
            Call::SnapshotHistory(r) => entropy.get_pattern_entropy_history(r).await.map(drop),
            Call::ResponseHistory(r) => entropy.get_entropy_response_history(r).await.map(drop),
            Call::Pattern(r) => patterns.record_pattern(r).await.map(drop),
            Call::Application(r) => patterns.record_pattern_application(r).await.map(drop),
            Call::Status(r) => patterns.set_pattern_quarantine_status(r).await.map(drop),
            Call::ListPatterns(r) => patterns.list_patterns(r).await.map(drop),
        }
    }
}

fn trigger(context: Option<pb::EntropyTriggerContext>, config: pb::EntropyResponseConfig) -> Call {
    Call::Trigger(pb::TriggerEntropyResponseRequest {
        trigger: context,
        config: Some(config),
        request_id: String::new(),
    })
}

fn respond() -> pb::RespondToEntropyIfNeededRequest {
    pb::RespondToEntropyIfNeededRequest {
        job_hash: "job".into(),
        entropy_threshold: Some(0.9),
        cooldown_seconds: Some(0),
        ..Default::default()
    }
}

fn snapshot(metrics: pb::PatternEntropyMetrics) -> Call {
    Call::Snapshot(pb::RecordPatternEntropyRequest {
        metrics: Some(metrics),
        request_id: String::new(),
    })
}

fn pattern() -> pb::RecordPatternRequest {
    pb::RecordPatternRequest {
        pattern_type: "retry".into(),
        pattern_name: "backoff".into(),
        ..Default::default()
    }
}

fn application(pattern_id: &str) -> pb::RecordPatternApplicationRequest {
    pb::RecordPatternApplicationRequest {
        pattern_id: pattern_id.into(),
        execution_id: "exec".into(),
        pattern_led_to_success: true,
        ..Default::default()
    }
}

fn status(pattern_id: &str) -> pb::SetPatternQuarantineStatusRequest {
    pb::SetPatternQuarantineStatusRequest {
        pattern_id: pattern_id.into(),
        status: QuarantineStatus::Validated as i32,
        ..Default::default()
    }
}

/// A page token of another list (oldest-first patterns) than the one it is sent to.
fn foreign_page_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("v1|after|3")
}

/// A request_id already used, by UpdateExplorationBudget with `update()`.
const TAKEN_ID: &str = "taken-request-id";

#[rustfmt::skip]
fn cases(pattern_id: &str) -> Vec<(&'static str, Call, Expect)> {
    use Expect::{Code as C, Invalid as I};
    let long_id = "j".repeat(257);
    let long_text = "t".repeat(4097);
    vec![
        // UpdateExplorationBudget
        ("budget NaN", Call::Update(pb::UpdateExplorationBudgetRequest { budget_value: f64::NAN, ..update() }), I("budget_value")),
        ("budget +inf", Call::Update(pb::UpdateExplorationBudgetRequest { budget_value: f64::INFINITY, ..update() }), I("budget_value")),
        ("budget -inf", Call::Update(pb::UpdateExplorationBudgetRequest { budget_value: f64::NEG_INFINITY, ..update() }), I("budget_value")),
        ("empty job", Call::Update(pb::UpdateExplorationBudgetRequest { job_hash: String::new(), ..update() }), I("job_hash")),
        ("oversized job", Call::Update(pb::UpdateExplorationBudgetRequest { job_hash: long_id.clone(), ..update() }), I("job_hash")),
        ("unspecified type", Call::Update(pb::UpdateExplorationBudgetRequest { adjustment_type: 0, ..update() }), I("adjustment_type")),
        ("unknown type", Call::Update(pb::UpdateExplorationBudgetRequest { adjustment_type: 99, ..update() }), I("adjustment_type")),
        ("negative type", Call::Update(pb::UpdateExplorationBudgetRequest { adjustment_type: -1, ..update() }), I("adjustment_type")),
        ("entropy NaN", Call::Update(pb::UpdateExplorationBudgetRequest { entropy_at_time: Some(f64::NAN), ..update() }), I("entropy_at_time")),
        ("entropy below 0", Call::Update(pb::UpdateExplorationBudgetRequest { entropy_at_time: Some(-0.01), ..update() }), I("entropy_at_time")),
        ("floor above ceiling", Call::Update(pb::UpdateExplorationBudgetRequest { floor: Some(0.6), ceiling: Some(0.4), ..update() }), I("floor")),
        ("ceiling above 1", Call::Update(pb::UpdateExplorationBudgetRequest { ceiling: Some(1.5), ..update() }), I("ceiling")),
        ("floor -inf", Call::Update(pb::UpdateExplorationBudgetRequest { floor: Some(f64::NEG_INFINITY), ..update() }), I("floor")),
        ("oversized reason", Call::Update(pb::UpdateExplorationBudgetRequest { adjustment_reason: Some(long_text.clone()), ..update() }), I("adjustment_reason")),
        ("request_id too long", Call::Update(pb::UpdateExplorationBudgetRequest { request_id: "r".repeat(129), ..update() }), I("request_id")),
        ("request_id reused, other payload", Call::Update(pb::UpdateExplorationBudgetRequest { budget_value: 0.3, request_id: TAKEN_ID.into(), ..update() }), I("request_id")),
        ("request_id reused, other RPC", Call::Adjust(pb::CalculateBudgetAdjustmentRequest { request_id: TAKEN_ID.into(), ..adjust() }), I("request_id")),
        // CalculateBudgetAdjustment
        ("current entropy NaN", Call::Adjust(pb::CalculateBudgetAdjustmentRequest { current_entropy: f64::NAN, ..adjust() }), I("current_entropy")),
        ("current entropy above 1", Call::Adjust(pb::CalculateBudgetAdjustmentRequest { current_entropy: 1.5, ..adjust() }), I("current_entropy")),
        ("decay rate 0", Call::Adjust(pb::CalculateBudgetAdjustmentRequest { decay_rate: Some(0.0), ..adjust() }), I("decay_rate")),
        ("decay rate above 1", Call::Adjust(pb::CalculateBudgetAdjustmentRequest { decay_rate: Some(1.01), ..adjust() }), I("decay_rate")),
        ("boost amount inf", Call::Adjust(pb::CalculateBudgetAdjustmentRequest { boost_amount: Some(f64::INFINITY), ..adjust() }), I("boost_amount")),
        ("threshold negative", Call::Adjust(pb::CalculateBudgetAdjustmentRequest { entropy_threshold: Some(-0.5), ..adjust() }), I("entropy_threshold")),
        ("initial budget NaN", Call::Adjust(pb::CalculateBudgetAdjustmentRequest { initial_budget: Some(f64::NAN), ..adjust() }), I("initial_budget")),
        ("adjust floor above ceiling", Call::Adjust(pb::CalculateBudgetAdjustmentRequest { floor: Some(0.5), ceiling: Some(0.1), ..adjust() }), I("floor")),
        ("adjust empty job", Call::Adjust(pb::CalculateBudgetAdjustmentRequest { job_hash: String::new(), ..adjust() }), I("job_hash")),
        // TriggerEntropyResponse
        ("trigger missing", trigger(None, Default::default()), I("trigger")),
        ("trigger empty job", trigger(Some(pb::EntropyTriggerContext { job_hash: String::new(), ..context() }), Default::default()), I("trigger.job_hash")),
        ("trigger entropy inf", trigger(Some(pb::EntropyTriggerContext { entropy_at_trigger: f64::INFINITY, ..context() }), Default::default()), I("trigger.entropy_at_trigger")),
        ("trigger threshold above 1", trigger(Some(pb::EntropyTriggerContext { threshold_used: 1.01, ..context() }), Default::default()), I("trigger.threshold_used")),
        ("revisits above 100", trigger(Some(context()), pb::EntropyResponseConfig { max_quarantine_revisits: Some(101), ..Default::default() }), I("config.max_quarantine_revisits")),
        ("revisits negative", trigger(Some(context()), pb::EntropyResponseConfig { max_quarantine_revisits: Some(-1), ..Default::default() }), I("config.max_quarantine_revisits")),
        ("config floor above ceiling", trigger(Some(context()), pb::EntropyResponseConfig { budget_floor: Some(0.9), budget_ceiling: Some(0.2), ..Default::default() }), I("config.budget_floor")),
        ("config boost NaN", trigger(Some(context()), pb::EntropyResponseConfig { budget_boost_amount: Some(f64::NAN), ..Default::default() }), I("config.budget_boost_amount")),
        // RespondToEntropyIfNeeded and CheckEntropyResponseNeeded
        ("respond cooldown negative", Call::Respond(pb::RespondToEntropyIfNeededRequest { cooldown_seconds: Some(-1), ..respond() }), I("cooldown_seconds")),
        ("respond threshold NaN", Call::Respond(pb::RespondToEntropyIfNeededRequest { entropy_threshold: Some(f64::NAN), ..respond() }), I("entropy_threshold")),
        ("respond oversized job", Call::Respond(pb::RespondToEntropyIfNeededRequest { job_hash: long_id.clone(), ..respond() }), I("job_hash")),
        ("respond config ceiling NaN", Call::Respond(pb::RespondToEntropyIfNeededRequest { config: Some(pb::EntropyResponseConfig { budget_ceiling: Some(f64::NAN), ..Default::default() }), ..respond() }), I("config.budget_ceiling")),
        ("respond request_id too long", Call::Respond(pb::RespondToEntropyIfNeededRequest { request_id: "r".repeat(200), ..respond() }), I("request_id")),
        ("check cooldown negative", Call::Check(pb::CheckEntropyResponseNeededRequest { job_hash: "job".into(), cooldown_seconds: Some(i64::MIN), ..Default::default() }), I("cooldown_seconds")),
        ("check empty job", Call::Check(pb::CheckEntropyResponseNeededRequest::default()), I("job_hash")),
        // RecordPatternEntropy and CalculatePatternEntropy
        ("metrics missing", Call::Snapshot(pb::RecordPatternEntropyRequest::default()), I("metrics")),
        ("diversity above 1", snapshot(pb::PatternEntropyMetrics { diversity_index: 1.5, ..metrics() }), I("metrics.diversity_index")),
        ("shannon negative", snapshot(pb::PatternEntropyMetrics { shannon_entropy: -1.0, ..metrics() }), I("metrics.shannon_entropy")),
        ("max entropy NaN", snapshot(pb::PatternEntropyMetrics { max_possible_entropy: f64::NAN, ..metrics() }), I("metrics.max_possible_entropy")),
        ("effective above unique", snapshot(pb::PatternEntropyMetrics { effective_pattern_count: 3, ..metrics() }), I("metrics.effective_pattern_count")),
        ("total negative", snapshot(pb::PatternEntropyMetrics { total_applications: -5, ..metrics() }), I("metrics.total_applications")),
        ("dominant share inf", snapshot(pb::PatternEntropyMetrics { dominant_pattern_share: f64::INFINITY, ..metrics() }), I("metrics.dominant_pattern_share")),
        ("calculated_at bad nanos", snapshot(pb::PatternEntropyMetrics { calculated_at: Some(prost_types::Timestamp { seconds: 0, nanos: -1 }), ..metrics() }), I("metrics.calculated_at")),
        ("calculated_at out of range", snapshot(pb::PatternEntropyMetrics { calculated_at: Some(prost_types::Timestamp { seconds: i64::MAX, nanos: 0 }), ..metrics() }), I("metrics.calculated_at")),
        ("alert threshold NaN", Call::Calculate(pb::CalculatePatternEntropyRequest { alert_threshold: Some(f64::NAN), ..Default::default() }), I("alert_threshold")),
        // PatternService
        ("pattern empty type", Call::Pattern(pb::RecordPatternRequest { pattern_type: String::new(), ..pattern() }), I("pattern_type")),
        ("pattern oversized name", Call::Pattern(pb::RecordPatternRequest { pattern_name: long_id.clone(), ..pattern() }), I("pattern_name")),
        ("pattern oversized description", Call::Pattern(pb::RecordPatternRequest { description: Some(long_text.clone()), ..pattern() }), I("description")),
        ("pattern unknown status", Call::Pattern(pb::RecordPatternRequest { quarantine_status: Some(42), ..pattern() }), I("quarantine_status")),
        ("pattern request_id reused", Call::Pattern(pb::RecordPatternRequest { request_id: TAKEN_ID.into(), ..pattern() }), I("request_id")),
        ("application empty pattern", Call::Application(application("")), I("pattern_id")),
        ("application unknown pattern", Call::Application(application("no-such-pattern")), C(Code::NotFound)),
        ("application oversized execution", Call::Application(pb::RecordPatternApplicationRequest { execution_id: long_id.clone(), ..application(pattern_id) }), I("execution_id")),
        ("application empty execution", Call::Application(pb::RecordPatternApplicationRequest { execution_id: String::new(), ..application(pattern_id) }), I("execution_id")),
        ("status unspecified", Call::Status(pb::SetPatternQuarantineStatusRequest { status: 0, ..status(pattern_id) }), I("status")),
        ("status unknown", Call::Status(pb::SetPatternQuarantineStatusRequest { status: 7, ..status(pattern_id) }), I("status")),
        ("status unknown pattern", Call::Status(status("no-such-pattern")), C(Code::NotFound)),
        ("status oversized reason", Call::Status(pb::SetPatternQuarantineStatusRequest { reason: Some(long_text.clone()), ..status(pattern_id) }), I("reason")),
        ("list unknown status", Call::ListPatterns(pb::ListPatternsRequest { status: Some(9), ..Default::default() }), I("status")),
        // Reads: limits, page tokens, filters
        ("history limit too large", Call::BudgetHistory(pb::GetExplorationBudgetHistoryRequest { limit: 1001, ..Default::default() }), I("limit")),
        ("history limit negative", Call::BudgetHistory(pb::GetExplorationBudgetHistoryRequest { limit: -1, ..Default::default() }), I("limit")),
        ("history garbage token", Call::BudgetHistory(pb::GetExplorationBudgetHistoryRequest { page_token: "%%not-base64%%".into(), ..Default::default() }), I("page_token")),
        ("history token of another list", Call::BudgetHistory(pb::GetExplorationBudgetHistoryRequest { page_token: foreign_page_token(), ..Default::default() }), I("page_token")),
        ("history oversized filter", Call::BudgetHistory(pb::GetExplorationBudgetHistoryRequest { job_hash: Some(long_id.clone()), ..Default::default() }), I("job_hash")),
        ("latest oversized filter", Call::Budget(pb::GetExplorationBudgetRequest { job_hash: Some(long_id.clone()) }), I("job_hash")),
        ("statistics oversized filter", Call::BudgetStatistics(pb::GetExplorationBudgetStatisticsRequest { job_hash: Some(long_id.clone()) }), I("job_hash")),
        ("response history limit", Call::ResponseHistory(pb::GetEntropyResponseHistoryRequest { limit: i32::MAX, ..Default::default() }), I("limit")),
        ("snapshot history garbage token", Call::SnapshotHistory(pb::GetPatternEntropyHistoryRequest { page_token: "djF8Y2FsY3VsYXRlZHx4".into(), ..Default::default() }), I("page_token")),
        ("patterns garbage token", Call::ListPatterns(pb::ListPatternsRequest { page_token: "v1|after|1".into(), ..Default::default() }), I("page_token")),
        // A message over the size limit (tonic's default: 4 MiB).
        ("message over the size limit", Call::Update(pb::UpdateExplorationBudgetRequest { adjustment_reason: Some("x".repeat(5 << 20)), ..update() }), C(Code::ResourceExhausted)),
    ]
}

#[tokio::test]
async fn every_malformed_request_gets_a_precise_status_and_writes_nothing() {
    let server = TestServer::start().await;
    // Data for the cases to refer to, and for a trigger to act on if it wrongly ran.
    let pattern_id = server.seed_applications(&[90, 10]).await.remove(0);
    let taken = pb::UpdateExplorationBudgetRequest {
        request_id: TAKEN_ID.into(),
        ..update()
    };
    Call::Update(taken).send(&server).await.expect("setup");

    let cases = cases(&pattern_id);
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for (name, call, expect) in cases {
        let before = server.all_row_counts();
        let status = match call.send(&server).await {
            Ok(()) => panic!("{name}: accepted"),
            Err(status) => status,
        };
        match expect {
            Expect::Invalid(field) => assert_invalid(&status, field),
            Expect::Code(code) => assert_eq!(status.code(), code, "{name}: {status:?}"),
        }
        assert_eq!(server.all_row_counts(), before, "{name}: wrote something");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_valid_twins_of_the_cases_are_accepted() {
    // The cases' base requests are valid: a refusal above is due to the one bad field.
    let server = TestServer::start().await;
    let pattern_id = server.seed_applications(&[90, 10]).await.remove(0);
    for call in [
        Call::Update(update()),
        Call::Adjust(adjust()),
        trigger(Some(context()), Default::default()),
        Call::Respond(respond()),
        snapshot(metrics()),
        Call::Pattern(pattern()),
        Call::Application(application(&pattern_id)),
        Call::Status(status(&pattern_id)),
        Call::Update(pb::UpdateExplorationBudgetRequest {
            adjustment_reason: Some("t".repeat(4096)),
            request_id: "r".repeat(128),
            ..update()
        }),
    ] {
        let name = format!("{call:?}");
        call.send(&server)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    server.stop().await;
}
