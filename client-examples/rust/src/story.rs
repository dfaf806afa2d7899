//! The story of `client-examples/README.md`, steps a to i, every answer checked.

use learning_client::v1::{
    AdjustmentType, CalculatePatternEntropyRequest, CheckEntropyResponseNeededRequest,
    EntropyResponseAction, EntropyTriggerContext, GetExplorationBudgetHistoryRequest,
    GetExplorationBudgetStatisticsRequest, GetLastEntropyResponseRequest,
    GetPatternEntropyHistoryRequest, ListPatternsRequest, Pattern, PatternEntropyMetrics,
    QuarantineStatus, RecordPatternApplicationRequest, RecordPatternEntropyRequest,
    RecordPatternRequest, SetPatternQuarantineStatusRequest, SubscribePatternEntropyRequest,
    SubscribePatternEntropyResponse, TriggerEntropyResponseRequest, UpdateExplorationBudgetRequest,
    budget_service_client::BudgetServiceClient, entropy_service_client::EntropyServiceClient,
    pattern_service_client::PatternServiceClient, subscribe_pattern_entropy_response::Event,
};
use tonic::{Code, Streaming, transport::Channel};
use tonic_types::StatusExt;

use crate::checks::{Failure, Outcome, check, check_close, check_eq, present};

fn step(name: &str) {
    println!("--- {name}");
}

pub async fn run(channel: Channel, address: &str) -> Outcome {
    let mut patterns = PatternServiceClient::new(channel.clone());
    let mut entropy = EntropyServiceClient::new(channel.clone());
    let mut budget = BudgetServiceClient::new(channel);

    let run = format!("rust-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let job = format!("job-{run}");
    println!("server {address}, job_hash {job}");

    let before = calculate_entropy(&mut entropy).await?;
    let fresh = before.unique_pattern_count == 0;
    if !fresh {
        println!(
            "    the server already knows {} patterns: exact entropy checks skipped",
            before.unique_pattern_count
        );
    }

    step("a. record 3 patterns, quarantine one, record 90 + 10 applications");
    let mut ids = Vec::new();
    for name in ["dominant", "rare", "quarantined"] {
        let request = RecordPatternRequest {
            pattern_type: "example".into(),
            pattern_name: format!("{run}-{name}"),
            description: Some(format!("{name} pattern")),
            ..Default::default()
        };
        let p = present(
            patterns.record_pattern(request).await?.into_inner().pattern,
            "RecordPattern: pattern",
        )?;
        check(
            p.id.len() == 36,
            format!("RecordPattern {name}: id {:?} is not a UUID", p.id),
        )?;
        check_eq(
            p.quarantine_status(),
            QuarantineStatus::Pending,
            &format!("RecordPattern {name}: status"),
        )?;
        check_eq(
            p.application_count,
            0,
            &format!("RecordPattern {name}: application_count"),
        )?;
        ids.push(p.id);
    }
    let (dominant, rare, quarantined) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let q = present(
        patterns
            .set_pattern_quarantine_status(SetPatternQuarantineStatusRequest {
                pattern_id: quarantined.clone(),
                status: QuarantineStatus::Quarantined.into(),
                reason: Some("story: suspicious".into()),
                ..Default::default()
            })
            .await?
            .into_inner()
            .pattern,
        "SetPatternQuarantineStatus: pattern",
    )?;
    check_eq(
        q.quarantine_status(),
        QuarantineStatus::Quarantined,
        "SetPatternQuarantineStatus: status",
    )?;
    check_eq(
        q.stored_quarantine_status.as_str(),
        "quarantined",
        "SetPatternQuarantineStatus: stored status",
    )?;
    for (name, id, count) in [("dominant", &dominant, 90), ("rare", &rare, 10)] {
        let mut last = None;
        for i in 0..count {
            let request = RecordPatternApplicationRequest {
                pattern_id: id.clone(),
                execution_id: format!("{run}-exec-{i}"),
                pattern_led_to_success: i % 4 != 0,
                ..Default::default()
            };
            last = Some(
                patterns
                    .record_pattern_application(request)
                    .await?
                    .into_inner(),
            );
        }
        let last = present(last, "RecordPatternApplication: response")?;
        check(
            !last.application_id.is_empty(),
            format!("RecordPatternApplication {name}: empty application_id"),
        )?;
        check_eq(
            last.application_count,
            count,
            &format!("RecordPatternApplication {name}: application_count"),
        )?;
    }
    println!("    patterns {dominant} x90, {rare} x10, {quarantined} quarantined");

    step("b. CalculatePatternEntropy");
    let m = calculate_entropy(&mut entropy).await?;
    println!(
        "    shannon {:.6} diversity {:.6} effective {} unique {} total {} dominant {:.6}",
        m.shannon_entropy,
        m.diversity_index,
        m.effective_pattern_count,
        m.unique_pattern_count,
        m.total_applications,
        m.dominant_pattern_share
    );
    check_eq(
        m.id.as_str(),
        "",
        "CalculatePatternEntropy: id of an unrecorded snapshot",
    )?;
    check(
        m.calculated_at.is_some(),
        "CalculatePatternEntropy: calculated_at unset",
    )?;
    check(
        !m.threshold_exceeded,
        "CalculatePatternEntropy: threshold_exceeded without alert_threshold",
    )?;
    if fresh {
        check_close(m.shannon_entropy, 0.468996, "shannon_entropy")?;
        check_close(m.max_possible_entropy, 1.0, "max_possible_entropy")?;
        check_close(m.diversity_index, 0.468996, "diversity_index")?;
        check_eq(m.effective_pattern_count, 2, "effective_pattern_count")?;
        check_eq(m.unique_pattern_count, 3, "unique_pattern_count")?;
        check_eq(m.total_applications, 100, "total_applications")?;
        check_close(m.dominant_pattern_share, 0.9, "dominant_pattern_share")?;
    } else {
        check(
            m.unique_pattern_count >= before.unique_pattern_count + 3,
            "unique_pattern_count did not grow by 3",
        )?;
        check(
            m.total_applications >= before.total_applications + 100,
            "total_applications did not grow by 100",
        )?;
        check(
            m.effective_pattern_count <= m.unique_pattern_count,
            "effective_pattern_count > unique_pattern_count",
        )?;
        if m.max_possible_entropy > 0.0 {
            check_close(
                m.diversity_index,
                m.shannon_entropy / m.max_possible_entropy,
                "diversity = H / Hmax",
            )?;
        }
    }
    let diversity = m.diversity_index;

    step("c. RecordPatternEntropy, GetPatternEntropyHistory");
    let recorded = entropy
        .record_pattern_entropy(RecordPatternEntropyRequest {
            metrics: Some(m.clone()),
            ..Default::default()
        })
        .await?
        .into_inner();
    check(!recorded.id.is_empty(), "RecordPatternEntropy: empty id")?;
    let stored = present(recorded.metrics, "RecordPatternEntropy: metrics")?;
    check_eq(&stored.id, &recorded.id, "RecordPatternEntropy: metrics.id")?;
    check_close(
        stored.diversity_index,
        diversity,
        "RecordPatternEntropy: stored diversity_index",
    )?;
    let history = entropy
        .get_pattern_entropy_history(GetPatternEntropyHistoryRequest {
            limit: 10,
            ..Default::default()
        })
        .await?
        .into_inner()
        .records;
    let found = present(
        history.iter().find(|r| r.id == recorded.id),
        &format!("GetPatternEntropyHistory: snapshot {}", recorded.id),
    )?;
    check_close(
        found.diversity_index,
        diversity,
        "GetPatternEntropyHistory: diversity_index",
    )?;
    check_eq(
        found.total_applications,
        m.total_applications,
        "GetPatternEntropyHistory: total_applications",
    )?;
    println!("    snapshot {}", recorded.id);

    step("d. CheckEntropyResponseNeeded (threshold 0.5, cooldown 3600 s)");
    let check_request = CheckEntropyResponseNeededRequest {
        job_hash: job.clone(),
        entropy_threshold: Some(0.5),
        cooldown_seconds: Some(3600),
    };
    let need = entropy
        .check_entropy_response_needed(check_request.clone())
        .await?
        .into_inner();
    println!(
        "    needs_response {}, reason {:?}",
        need.needs_response, need.reason
    );
    let current = present(
        need.current_entropy,
        "CheckEntropyResponseNeeded: current_entropy",
    )?;
    check_close(
        current,
        diversity,
        "CheckEntropyResponseNeeded: current_entropy",
    )?;
    check(
        need.cooldown_remaining_seconds.is_none(),
        "CheckEntropyResponseNeeded: cooldown reported before any response",
    )?;
    let (want_needed, want_reason) = if fresh {
        (true, "Entropy 0.469 < threshold 0.500".to_owned())
    } else if current < 0.5 {
        (true, format!("Entropy {current:.3} < threshold 0.500"))
    } else {
        (
            false,
            format!("Entropy {current:.3} >= threshold 0.500 (healthy)"),
        )
    };
    check_eq(
        need.needs_response,
        want_needed,
        "CheckEntropyResponseNeeded: needs_response",
    )?;
    check_eq(
        need.reason,
        want_reason,
        "CheckEntropyResponseNeeded: reason",
    )?;

    step("e. TriggerEntropyResponse, then the quarantined pattern is pending");
    let record = present(
        entropy
            .trigger_entropy_response(TriggerEntropyResponseRequest {
                trigger: Some(EntropyTriggerContext {
                    job_hash: job.clone(),
                    entropy_at_trigger: 0.469,
                    threshold_used: 0.5,
                    snapshot_id: None,
                }),
                ..Default::default()
            })
            .await?
            .into_inner()
            .record,
        "TriggerEntropyResponse: record",
    )?;
    // Raw values, so that an unknown action shows as its number instead of being dropped.
    let actions: Vec<String> = record
        .actions_taken
        .iter()
        .map(|&a| {
            EntropyResponseAction::try_from(a).map_or(a.to_string(), |a| a.as_str_name().into())
        })
        .collect();
    println!(
        "    response {}: actions {actions:?}, revisited {:?}",
        record.id, record.patterns_revisited
    );
    check(
        record.id.len() == 36,
        format!("TriggerEntropyResponse: id {:?}", record.id),
    )?;
    check_eq(&record.job_hash, &job, "TriggerEntropyResponse: job_hash")?;
    check_close(
        record.entropy_at_trigger,
        0.469,
        "TriggerEntropyResponse: entropy_at_trigger",
    )?;
    check_close(
        record.threshold_used,
        0.5,
        "TriggerEntropyResponse: threshold_used",
    )?;
    check_eq(
        actions,
        vec![
            "ENTROPY_RESPONSE_ACTION_BUDGET_BOOST".to_owned(),
            "ENTROPY_RESPONSE_ACTION_QUARANTINE_REVISIT".to_owned(),
        ],
        "TriggerEntropyResponse: actions_taken",
    )?;
    check_eq(
        record.budget_boosted,
        true,
        "TriggerEntropyResponse: budget_boosted",
    )?;
    if fresh {
        check_eq(
            &record.patterns_revisited,
            &vec![quarantined.clone()],
            "TriggerEntropyResponse: patterns_revisited",
        )?;
    } else {
        check(
            record.patterns_revisited.contains(&quarantined),
            format!("TriggerEntropyResponse: {quarantined} not in patterns_revisited"),
        )?;
    }
    check_eq(
        usize::try_from(record.quarantine_revisits).ok(),
        Some(record.patterns_revisited.len()),
        "TriggerEntropyResponse: quarantine_revisits",
    )?;
    let revisited = present(
        find_pattern(&mut patterns, QuarantineStatus::Pending, &quarantined).await?,
        &format!("ListPatterns(PENDING): revisited pattern {quarantined}"),
    )?;
    check_eq(
        revisited.quarantine_status(),
        QuarantineStatus::Pending,
        "ListPatterns: revisited pattern status",
    )?;
    check_eq(
        revisited.stored_quarantine_status.as_str(),
        "pending",
        "ListPatterns: revisited pattern stored status",
    )?;
    println!(
        "    pattern {quarantined} is {}: {:?}",
        revisited.quarantine_status().as_str_name(),
        revisited.quarantine_reason
    );
    let last = present(
        entropy
            .get_last_entropy_response(GetLastEntropyResponseRequest {
                job_hash: Some(job.clone()),
            })
            .await?
            .into_inner()
            .response,
        "GetLastEntropyResponse: response",
    )?;
    check_eq(&last.id, &record.id, "GetLastEntropyResponse: id")?;

    step("f. GetExplorationBudgetHistory, GetExplorationBudgetStatistics");
    let history_request = GetExplorationBudgetHistoryRequest {
        job_hash: Some(job.clone()),
        ..Default::default()
    };
    let records = budget
        .get_exploration_budget_history(history_request.clone())
        .await?
        .into_inner()
        .records;
    check_eq(
        records.len(),
        1,
        "GetExplorationBudgetHistory: number of records",
    )?;
    let b = &records[0];
    println!(
        "    budget {} {} entropy {:?} reason {:?}",
        b.budget_value,
        b.adjustment_type().as_str_name(),
        b.entropy_at_time,
        b.adjustment_reason
    );
    check_close(
        b.budget_value,
        0.25,
        "budget_value (0.15 default + 0.10 boost)",
    )?;
    check_eq(
        b.adjustment_type(),
        AdjustmentType::Boost,
        "adjustment_type",
    )?;
    check_eq(
        b.stored_adjustment_type.as_str(),
        "boost",
        "stored_adjustment_type",
    )?;
    check_eq(&b.job_hash, &job, "budget job_hash")?;
    check_close(
        present(b.entropy_at_time, "entropy_at_time")?,
        0.469,
        "entropy_at_time",
    )?;
    let stats = budget
        .get_exploration_budget_statistics(GetExplorationBudgetStatisticsRequest {
            job_hash: Some(job.clone()),
        })
        .await?
        .into_inner();
    check_eq(stats.total_adjustments, 1, "statistics total_adjustments")?;
    check_eq(stats.boost_count, 1, "statistics boost_count")?;
    check_close(
        present(stats.current_budget, "statistics current_budget")?,
        0.25,
        "statistics current_budget",
    )?;
    check_close(stats.avg_budget, 0.25, "statistics avg_budget")?;

    step("g. CheckEntropyResponseNeeded again: cooldown");
    let again = entropy
        .check_entropy_response_needed(check_request)
        .await?
        .into_inner();
    println!(
        "    needs_response {}, reason {:?}",
        again.needs_response, again.reason
    );
    check_eq(again.needs_response, false, "second check: needs_response")?;
    check(
        again.reason.starts_with("Cooldown active ("),
        format!("second check: reason {:?}", again.reason),
    )?;
    let remaining = present(
        again.cooldown_remaining_seconds,
        "second check: cooldown_remaining_seconds",
    )?;
    check(
        remaining > 0.0 && remaining <= 3600.0,
        format!("second check: cooldown_remaining_seconds {remaining}"),
    )?;

    step("h. invalid requests are INVALID_ARGUMENT and write nothing");
    let floor_above_ceiling = UpdateExplorationBudgetRequest {
        job_hash: job.clone(),
        budget_value: 0.3,
        adjustment_type: AdjustmentType::Boost.into(),
        floor: Some(0.6),
        ceiling: Some(0.4),
        ..Default::default()
    };
    expect_invalid_argument(
        budget
            .update_exploration_budget(floor_above_ceiling)
            .await
            .map(drop),
        "UpdateExplorationBudget(floor 0.6 > ceiling 0.4)",
    )?;
    let no_job = UpdateExplorationBudgetRequest {
        job_hash: String::new(),
        budget_value: 0.3,
        adjustment_type: AdjustmentType::Boost.into(),
        ..Default::default()
    };
    expect_invalid_argument(
        budget.update_exploration_budget(no_job).await.map(drop),
        "UpdateExplorationBudget(job_hash \"\")",
    )?;
    let after = budget
        .get_exploration_budget_history(history_request)
        .await?
        .into_inner();
    check_eq(
        after.records.len(),
        1,
        "budget records after the rejected updates",
    )?;

    step(
        "i. SubscribePatternEntropy: a snapshot recorded after subscribing arrives, and again on resume",
    );
    let mut stream = entropy
        .subscribe_pattern_entropy(SubscribePatternEntropyRequest::default())
        .await?
        .into_inner();
    let first = next_event(&mut stream).await?;
    check(
        matches!(first.event, Some(Event::CaughtUp(_))),
        format!("SubscribePatternEntropy: first message (backfill 0) is not caught_up: {first:?}"),
    )?;
    check(
        !first.cursor.is_empty(),
        "SubscribePatternEntropy: caught_up without a cursor",
    )?;
    let live = entropy
        .record_pattern_entropy(RecordPatternEntropyRequest {
            metrics: Some(m),
            ..Default::default()
        })
        .await?
        .into_inner();
    let event = next_event(&mut stream).await?;
    let snapshot = snapshot_of(
        &event,
        "SubscribePatternEntropy: message after RecordPatternEntropy",
    )?;
    check_eq(
        &snapshot.id,
        &live.id,
        "SubscribePatternEntropy: snapshot id",
    )?;
    check_close(
        snapshot.diversity_index,
        diversity,
        "SubscribePatternEntropy: snapshot diversity_index",
    )?;
    check(
        !event.cursor.is_empty() && event.cursor != first.cursor,
        format!(
            "SubscribePatternEntropy: snapshot cursor {:?}",
            event.cursor
        ),
    )?;
    println!(
        "    received snapshot {} (cursor {})",
        snapshot.id, event.cursor
    );
    drop(stream); // cancels the first subscription

    let mut resumed = entropy
        .subscribe_pattern_entropy(SubscribePatternEntropyRequest {
            after_cursor: first.cursor.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let replay = next_event(&mut resumed).await?;
    let replayed = snapshot_of(&replay, "resumed SubscribePatternEntropy: first message")?;
    check_eq(
        &replayed.id,
        &live.id,
        "resumed SubscribePatternEntropy: snapshot id",
    )?;
    check_eq(
        &replay.cursor,
        &event.cursor,
        "resumed SubscribePatternEntropy: cursor",
    )?;
    let then = next_event(&mut resumed).await?;
    check(
        matches!(then.event, Some(Event::CaughtUp(_))),
        format!("resumed SubscribePatternEntropy: no caught_up after the snapshot: {then:?}"),
    )?;
    println!(
        "    resumed after {}: got {} again, then caught_up",
        first.cursor, replayed.id
    );
    Ok(())
}

async fn calculate_entropy(
    entropy: &mut EntropyServiceClient<Channel>,
) -> Outcome<PatternEntropyMetrics> {
    let response = entropy
        .calculate_pattern_entropy(CalculatePatternEntropyRequest::default())
        .await?;
    present(
        response.into_inner().metrics,
        "CalculatePatternEntropy: metrics",
    )
}

/// The pattern `id` among those with `status`, through every page of ListPatterns.
async fn find_pattern(
    patterns: &mut PatternServiceClient<Channel>,
    status: QuarantineStatus,
    id: &str,
) -> Outcome<Option<Pattern>> {
    let mut token = String::new();
    loop {
        let page = patterns
            .list_patterns(ListPatternsRequest {
                status: Some(status.into()),
                limit: 1000,
                page_token: token,
            })
            .await?
            .into_inner();
        if let Some(found) = page.patterns.into_iter().find(|p| p.id == id) {
            return Ok(Some(found));
        }
        if page.next_page_token.is_empty() {
            return Ok(None);
        }
        token = page.next_page_token;
    }
}

/// The next message of a Subscribe stream that is not a keep-alive progress message.
async fn next_event(
    stream: &mut Streaming<SubscribePatternEntropyResponse>,
) -> Outcome<SubscribePatternEntropyResponse> {
    loop {
        match stream.message().await? {
            Some(message) if matches!(message.event, Some(Event::Progress(_))) => continue,
            Some(message) => return Ok(message),
            None => return Err(Failure::Check("the stream ended".into())),
        }
    }
}

fn snapshot_of<'a>(
    message: &'a SubscribePatternEntropyResponse,
    what: &str,
) -> Outcome<&'a PatternEntropyMetrics> {
    match &message.event {
        Some(Event::Snapshot(snapshot)) => Ok(snapshot),
        _ => Err(Failure::Check(format!(
            "{what} is not a snapshot: {message:?}"
        ))),
    }
}

/// The call must fail with INVALID_ARGUMENT and a google.rpc.BadRequest naming a field.
fn expect_invalid_argument(result: Result<(), tonic::Status>, what: &str) -> Outcome {
    let status = match result {
        Ok(()) => {
            return Err(Failure::Check(format!(
                "{what}: the call succeeded, want InvalidArgument"
            )));
        }
        Err(status) => status,
    };
    check_eq(
        status.code(),
        Code::InvalidArgument,
        &format!("{what}: status code"),
    )?;
    println!("    {what}: {:?}: {}", status.code(), status.message());
    let violations = status
        .get_details_bad_request()
        .map(|bad| bad.field_violations)
        .unwrap_or_default();
    for v in &violations {
        println!("      field violation {}: {}", v.field, v.description);
    }
    check(
        !violations.is_empty(),
        format!("{what}: InvalidArgument without google.rpc.BadRequest field violations"),
    )
}
