//! The client subcommands (`budget`, `entropy`, `responses`) run as a
//! binary against a real server, with data seeded over gRPC.

mod cli_support;
mod common;

use chrono::{DateTime, Local};
use cli_support::{Restartable, Watch, free_address, run};
use common::TestServer;
use learning_service::pb;
use serde_json::Value;

fn server_arg(server: &TestServer) -> String {
    format!("http://{}", server.address)
}

/// Runs `args` against `server`.
async fn cli(server: &TestServer, args: &[&str]) -> cli_support::Run {
    let address = server_arg(server);
    let mut all = args.to_vec();
    all.extend(["--server", address.as_str()]);
    run(&all).await
}

async fn budget(
    server: &TestServer,
    job: &str,
    value: f64,
    kind: pb::AdjustmentType,
    entropy: Option<f64>,
) -> pb::ExplorationBudgetRecord {
    server
        .budget()
        .update_exploration_budget(pb::UpdateExplorationBudgetRequest {
            job_hash: job.into(),
            budget_value: value,
            adjustment_type: kind as i32,
            entropy_at_time: entropy,
            ..Default::default()
        })
        .await
        .expect("update budget")
        .into_inner()
        .record
        .expect("record")
}

/// Patterns applied `counts[i]` times each; returns their ids.
async fn applied(server: &TestServer, counts: &[i64]) -> Vec<String> {
    let mut ids = Vec::new();
    for (index, count) in counts.iter().enumerate() {
        let id = pattern(server, &format!("p{index}"), None).await;
        for _ in 0..*count {
            server
                .patterns()
                .record_pattern_application(pb::RecordPatternApplicationRequest {
                    pattern_id: id.clone(),
                    execution_id: "exec".into(),
                    pattern_led_to_success: true,
                    ..Default::default()
                })
                .await
                .expect("application");
        }
        ids.push(id);
    }
    ids
}

async fn pattern(server: &TestServer, name: &str, status: Option<pb::QuarantineStatus>) -> String {
    server
        .patterns()
        .record_pattern(pb::RecordPatternRequest {
            pattern_type: "retry".into(),
            pattern_name: name.into(),
            quarantine_status: status.map(|s| s as i32),
            ..Default::default()
        })
        .await
        .expect("pattern")
        .into_inner()
        .pattern
        .expect("pattern")
        .id
}

async fn record_snapshot(server: &TestServer) -> String {
    let mut entropy = server.entropy();
    let metrics = entropy
        .calculate_pattern_entropy(pb::CalculatePatternEntropyRequest::default())
        .await
        .expect("calculate")
        .into_inner()
        .metrics;
    entropy
        .record_pattern_entropy(pb::RecordPatternEntropyRequest {
            metrics,
            ..Default::default()
        })
        .await
        .expect("record")
        .into_inner()
        .id
}

fn short_local(record: &pb::ExplorationBudgetRecord) -> String {
    let at = record.recorded_at.as_ref().expect("time");
    DateTime::from_timestamp(at.seconds, at.nanos as u32)
        .expect("time")
        .with_timezone(&Local)
        .format("%m-%d %H:%M:%S")
        .to_string()
}

fn f(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

/// A job's budget: initial, clamped to the ceiling, clamped to the floor,
/// then a boost measured at entropy 0.0 (the latest).
async fn seed_budget(server: &TestServer) -> Vec<pb::ExplorationBudgetRecord> {
    vec![
        budget(server, "job-1", 0.15, pb::AdjustmentType::Initial, None).await,
        budget(server, "job-1", 0.7, pb::AdjustmentType::Boost, Some(0.25)).await,
        budget(server, "job-1", 0.01, pb::AdjustmentType::Decay, Some(0.9)).await,
        budget(
            server,
            "job-1",
            0.123456789,
            pb::AdjustmentType::Boost,
            Some(0.0),
        )
        .await,
    ]
}

#[tokio::test]
async fn budget_json_keeps_full_precision_and_zero_entropy() {
    let server = TestServer::start().await;
    seed_budget(&server).await;
    budget(&server, "other", 0.4, pb::AdjustmentType::Initial, None).await;

    let out = cli(&server, &["budget", "--job", "job-1", "--json"])
        .await
        .json();
    let current = &out["current"];
    assert_eq!(f(&current["budget_value"]), 0.123456789);
    assert_eq!(current["entropy_at_time"], Value::from(0.0));
    assert!(
        current["entropy_at_time"].is_f64(),
        "0.0 is a number, not null"
    );
    assert_eq!(current["adjustment_type"], "boost");
    assert_eq!(current["job_hash"], "job-1");
    assert_eq!(current["level"], "Normal");
    assert!(current["recorded_at"].as_str().unwrap().ends_with('Z'));
    let stats = &out["statistics"];
    assert_eq!(f(&stats["current_budget"]), 0.123456789);
    assert_eq!(stats["total_adjustments"], 4);
    assert_eq!(stats["ceiling_enforcements"], 1);
    assert_eq!(stats["floor_enforcements"], 1);
    assert_eq!(stats["boost_count"], 1);
    assert_eq!(stats["decay_count"], 0);
    assert_eq!(stats["initial_count"], 1);
    assert_eq!(f(&stats["min_budget"]), 0.05);
    assert_eq!(f(&stats["max_budget"]), 0.5);
    let expected_avg = (0.15 + 0.5 + 0.05 + 0.123456789) / 4.0;
    assert!((f(&stats["avg_budget"]) - expected_avg).abs() < 1e-12);
    // 1 floor of 4 is 25%, not over 30%; 1 boost > 2 x 0 decays.
    assert_eq!(out["advisory"]["level"], "info");

    // Without a job: the latest of all jobs.
    let all = cli(&server, &["budget", "--json"]).await.json();
    assert_eq!(all["current"]["job_hash"], "other");
    assert_eq!(all["current"]["level"], "High");
    assert!(all["current"]["entropy_at_time"].is_null());
    assert_eq!(all["statistics"]["total_adjustments"], 5);
    server.stop().await;
}

#[tokio::test]
async fn budget_tables_for_people() {
    let server = TestServer::start().await;
    let records = seed_budget(&server).await;

    let text = cli(&server, &["budget", "-j", "job-1"])
        .await
        .ok()
        .to_string();
    assert!(text.contains("Exploration budget (job job-1)"), "{text}");
    assert!(text.contains("12.3% (Normal)"), "{text}");
    assert!(text.contains("Entropy:"), "{text}");
    assert!(text.contains("0.000"), "{text}");
    assert!(text.contains("5.0% - 50.0%"), "{text}");
    assert!(text.contains("Ceiling enforced:  1"), "{text}");
    assert!(text.contains("info: 1 boosts against 0 decays"), "{text}");

    let table = cli(&server, &["budget", "-j", "job-1", "--history"])
        .await
        .ok()
        .to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2 + 4, "{table}");
    for word in ["Time", "Budget", "Entropy", "Type", "Reason"] {
        assert!(lines[0].contains(word), "{table}");
    }
    assert!(
        !lines[0].contains("Job"),
        "a job filter needs no job column"
    );
    // Newest first, local time, percent, 3 decimals.
    assert!(lines[2].starts_with(&short_local(&records[3])), "{table}");
    assert!(
        lines[2].contains("12.3%") && lines[2].contains("0.000"),
        "{table}"
    );
    assert!(lines[2].contains("boost"), "{table}");
    assert!(lines[4].contains("50.0%") && lines[4].contains("ceiling_enforced"));
    assert!(lines[4].contains("enforced to ceiling"), "{table}");
    assert!(
        lines[5].contains("initial") && lines[5].contains(" - "),
        "{table}"
    );

    let json = cli(
        &server,
        &["budget", "-j", "job-1", "-H", "-n", "2", "--json"],
    )
    .await
    .json();
    let list = json.as_array().expect("a list");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], records[3].id.as_str());
    assert_eq!(list[1]["id"], records[2].id.as_str());
    assert_eq!(list[1]["adjustment_type"], "floor_enforced");
    assert_eq!(f(&list[1]["entropy_at_time"]), 0.9);
    server.stop().await;
}

#[tokio::test]
async fn an_empty_store_says_so() {
    let server = TestServer::start().await;
    let text = cli(&server, &["budget"]).await.ok().to_string();
    assert_eq!(text, "No exploration budget recorded (all jobs).\n");
    let json = cli(&server, &["budget", "--json"]).await.json();
    assert!(json["current"].is_null());
    assert!(json["statistics"]["current_budget"].is_null());
    assert!(json["advisory"].is_null());
    let history = cli(&server, &["entropy", "--history", "--json"])
        .await
        .json();
    assert_eq!(history, Value::Array(vec![]));
    let responses = cli(&server, &["responses"]).await.ok().to_string();
    assert!(
        responses.contains("No entropy responses recorded"),
        "{responses}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_bad_request_exits_1_naming_the_field() {
    let server = TestServer::start().await;
    let out = cli(&server, &["budget", "--history", "--limit", "5000"]).await;
    assert_eq!(out.code, Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.starts_with("error: INVALID_ARGUMENT: limit: "),
        "{}",
        out.stderr
    );
    let out = cli(&server, &["entropy", "--threshold", "1.5"]).await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("alert_threshold"), "{}", out.stderr);
    server.stop().await;
}

#[tokio::test]
async fn usage_errors_exit_2() {
    // --check without --job: the original silently used a job named "default".
    let out = run(&["responses", "--check"]).await;
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("--job"), "{}", out.stderr);
    let out = run(&["entropy", "--history", "--watch"]).await;
    assert_eq!(out.code, Some(2));
    let out = run(&["entropy", "--backfill", "3"]).await;
    assert_eq!(out.code, Some(2), "--backfill needs --watch");
    let out = run(&["budget", "--tls-cert", "c.pem"]).await;
    assert_eq!(out.code, Some(2), "--tls-cert needs --tls-key");
}

#[tokio::test]
async fn an_unreachable_server_exits_1_with_a_clear_message() {
    let address = free_address().await.to_string();
    let out = run(&["budget", "--server", &address]).await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .starts_with(&format!("error: cannot connect to http://{address}: ")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("refused"), "{}", out.stderr);
}

#[tokio::test]
async fn entropy_metrics_warnings_and_json() {
    let server = TestServer::start().await;
    applied(&server, &[3, 1, 0]).await;
    let expected = server
        .entropy()
        .calculate_pattern_entropy(pb::CalculatePatternEntropyRequest {
            alert_threshold: Some(0.9),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .metrics
        .unwrap();

    let json = cli(&server, &["entropy", "-t", "0.9", "--json"])
        .await
        .json();
    assert_eq!(f(&json["shannon_entropy"]), expected.shannon_entropy);
    assert_eq!(f(&json["max_possible_entropy"]), 1.0);
    assert_eq!(f(&json["diversity_index"]), expected.diversity_index);
    assert_eq!(json["unique_pattern_count"], 3);
    assert_eq!(json["effective_pattern_count"], 2);
    assert_eq!(json["total_applications"], 4);
    assert_eq!(f(&json["dominant_pattern_share"]), 0.75);
    assert_eq!(json["threshold_exceeded"], true);
    assert_eq!(f(&json["alert_threshold"]), 0.9);
    assert!(json["id"].is_null(), "only calculated, not recorded");

    let text = cli(&server, &["entropy", "--threshold", "0.9"])
        .await
        .ok()
        .to_string();
    assert!(text.contains("Patterns applied:  2 of 3 known"), "{text}");
    assert!(
        text.contains("warning: diversity 0.8113 is below the threshold 0.9"),
        "{text}"
    );
    assert!(text.contains("one pattern has 75.0% of all applications"));
    let healthy = cli(&server, &["entropy", "-t", "0.5"])
        .await
        .ok()
        .to_string();
    assert!(!healthy.contains("below the threshold"), "{healthy}");
    server.stop().await;
}

#[tokio::test]
async fn record_then_history_shows_the_snapshot() {
    let server = TestServer::start().await;
    applied(&server, &[2, 2]).await;
    let text = cli(&server, &["entropy", "--record"])
        .await
        .ok()
        .to_string();
    let id = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Recorded as:"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| panic!("no id in {text}"));
    assert_eq!(id.len(), 36, "a full UUID: {id}");

    let json = cli(&server, &["entropy", "-r", "-j"]).await.json();
    let second = json["id"].as_str().expect("an id").to_string();
    assert_eq!(f(&json["diversity_index"]), 1.0);

    let history = cli(&server, &["entropy", "--history", "--json"])
        .await
        .json();
    let ids: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![second.as_str(), id.as_str()]);

    let table = cli(&server, &["entropy", "-H", "-n", "1"])
        .await
        .ok()
        .to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].contains("Diversity") && lines[0].contains("Dominant"));
    assert!(
        lines[2].contains("1.000") && lines[2].contains("2/2"),
        "{table}"
    );
    assert!(lines[2].contains("50.0%"), "{table}");
    server.stop().await;
}

/// A job with one response: triggered at entropy 0.0, one pattern revisited.
async fn seed_response(server: &TestServer) -> pb::EntropyResponseRecord {
    pattern(server, "stale", Some(pb::QuarantineStatus::Quarantined)).await;
    server
        .entropy()
        .trigger_entropy_response(pb::TriggerEntropyResponseRequest {
            trigger: Some(pb::EntropyTriggerContext {
                job_hash: "job-1".into(),
                entropy_at_trigger: 0.0,
                threshold_used: 0.3,
                snapshot_id: None,
            }),
            ..Default::default()
        })
        .await
        .expect("trigger")
        .into_inner()
        .record
        .expect("record")
}

#[tokio::test]
async fn responses_statistics_last_and_history() {
    let server = TestServer::start().await;
    let record = seed_response(&server).await;
    assert_eq!(record.patterns_revisited.len(), 1);

    let json = cli(&server, &["responses", "--job", "job-1", "--json"])
        .await
        .json();
    let stats = &json["statistics"];
    assert_eq!(stats["total_responses"], 1);
    assert_eq!(stats["budget_boosts"], 1);
    assert_eq!(stats["quarantine_revisits"], 1);
    assert_eq!(f(&stats["avg_entropy_at_trigger"]), 0.0);
    let last = &json["last_response"];
    assert_eq!(last["id"], record.id.as_str());
    assert!(last["entropy_at_trigger"].is_f64(), "0.0, not null");
    assert_eq!(f(&last["threshold_used"]), 0.3);
    assert_eq!(
        last["actions_taken"],
        serde_json::json!(["budget_boost", "quarantine_revisit"])
    );
    assert_eq!(last["budget_boosted"], true);
    assert_eq!(
        last["patterns_revisited"],
        serde_json::json!(record.patterns_revisited)
    );

    let text = cli(&server, &["responses", "-j", "job-1"])
        .await
        .ok()
        .to_string();
    assert!(text.contains("Responses:"), "{text}");
    assert!(text.contains("0.000 (threshold 0.300)"), "{text}");
    assert!(text.contains(&record.patterns_revisited[0]), "{text}");

    let table = cli(&server, &["responses", "--history"])
        .await
        .ok()
        .to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for word in [
        "Time",
        "Job",
        "Entropy",
        "Threshold",
        "Actions",
        "Boosted",
        "Revisits",
    ] {
        assert!(lines[0].contains(word), "{table}");
    }
    for value in [
        "job-1",
        "0.000",
        "0.300",
        "budget_boost, quarantine_revisit",
        "yes",
    ] {
        assert!(lines[2].contains(value), "{value} in {table}");
    }
    assert!(lines[2].trim_end().ends_with('1'), "{table}");

    let list = cli(&server, &["responses", "-H", "--json"]).await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["job_hash"], "job-1");
    server.stop().await;
}

#[tokio::test]
async fn check_is_a_dry_run() {
    let server = TestServer::start().await;
    applied(&server, &[3, 1]).await;
    seed_response(&server).await;
    let before = server.row_counts();

    let cooling = cli(
        &server,
        &["responses", "--check", "--job", "job-1", "--json"],
    )
    .await
    .json();
    assert_eq!(cooling["needs_response"], false);
    assert!(
        cooling["reason"]
            .as_str()
            .unwrap()
            .starts_with("Cooldown active"),
        "{cooling}"
    );
    assert!(f(&cooling["cooldown_remaining_seconds"]) > 0.0);
    assert!(
        cooling["current_entropy"].is_f64(),
        "reported during a cooldown"
    );
    assert_eq!(cooling["cooldown_seconds"], 3600);

    let args = [
        "responses",
        "-c",
        "-j",
        "job-2",
        "--threshold",
        "0.99",
        "--cooldown",
        "0",
    ];
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let needed = cli(&server, &json_args).await.json();
    assert_eq!(needed["needs_response"], true);
    assert_eq!(needed["job_hash"], "job-2");
    assert!((f(&needed["current_entropy"]) - 0.8113).abs() < 1e-4);
    assert_eq!(needed["reason"], "Entropy 0.811 < threshold 0.990");
    assert!(needed["cooldown_remaining_seconds"].is_null());

    let text = cli(&server, &args).await.ok().to_string();
    assert!(text.contains("Needs response:   yes"), "{text}");
    assert!(text.contains("Reason:           Entropy 0.811 < threshold 0.990"));
    assert_eq!(server.row_counts(), before, "a check writes nothing");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_snapshots_recorded_after_it_starts() {
    let server = TestServer::start().await;
    applied(&server, &[1]).await;
    let earlier = record_snapshot(&server).await;
    let address = server_arg(&server);

    let mut json_watch = Watch::spawn(&[
        "entropy",
        "--watch",
        "--backfill",
        "1",
        "--json",
        "--server",
        &address,
    ]);
    let mut text_watch = Watch::spawn(&["entropy", "--watch", "--server", &address]);
    json_watch.wait_for_stderr("caught up").await;
    text_watch.wait_for_stderr("caught up").await;
    let backfilled: Value = serde_json::from_str(&json_watch.line().await).unwrap();
    assert_eq!(backfilled["id"], earlier.as_str());

    let live = record_snapshot(&server).await;
    let line = json_watch.line().await;
    let snapshot: Value = serde_json::from_str(&line).expect("a JSON object per line");
    assert_eq!(snapshot["id"], live.as_str());
    assert_eq!(snapshot["diversity_index"], Value::from(0.0));
    assert_eq!(snapshot["total_applications"], 1);
    let text = text_watch.line().await;
    assert!(text.contains(&live), "{text}");
    assert!(
        text.contains("diversity 0.000") && text.contains("LOW"),
        "{text}"
    );

    // Ctrl-C ends a watch normally.
    assert_eq!(json_watch.interrupt().await, Some(0));
    assert_eq!(text_watch.interrupt().await, Some(0));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_after_a_restart_and_reports_a_lost_position() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("learning.db");
    let address = free_address().await;
    let first = Restartable::start(&db, address).await;
    let channel = || {
        tonic::transport::Channel::from_shared(format!("http://{address}"))
            .unwrap()
            .connect_lazy()
    };
    let record = || async {
        let mut entropy = pb::entropy_service_client::EntropyServiceClient::new(channel());
        entropy
            .record_pattern_entropy(pb::RecordPatternEntropyRequest {
                metrics: Some(pb::PatternEntropyMetrics::default()),
                ..Default::default()
            })
            .await
            .expect("record")
            .into_inner()
            .id
    };
    let mut watch = Watch::spawn(&[
        "entropy",
        "--watch",
        "--json",
        "--server",
        &format!("http://{address}"),
    ]);
    watch.wait_for_stderr("caught up").await;
    let one = record().await;
    let line: Value = serde_json::from_str(&watch.line().await).unwrap();
    assert_eq!(line["id"], one.as_str());

    // The server restarts: the watch reconnects with its cursor.
    first.stop().await;
    watch.wait_for_stderr("connection lost (UNAVAILABLE").await;
    let meanwhile = {
        let second = Restartable::start(&db, address).await;
        let two = record().await;
        watch.wait_for_stderr("reconnected").await;
        let three = record().await;
        for expected in [&two, &three] {
            let line: Value = serde_json::from_str(&watch.line().await).unwrap();
            assert_eq!(line["id"], expected.as_str(), "nothing missed or repeated");
        }
        second
    };

    // The store is replaced by an empty one: the position is gone.
    meanwhile.stop().await;
    let fresh = dir.path().join("fresh.db");
    let third = Restartable::start(&fresh, address).await;
    let (code, stderr) = watch.exit().await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("error: OUT_OF_RANGE: after_cursor:"),
        "{stderr}"
    );
    assert!(stderr.contains("run the command again"), "{stderr}");
    third.stop().await;
}

const TOKEN: &str = "s3cret-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_token_is_sent_on_every_call() {
    let server = TestServer::start().await;
    seed_budget(&server).await;
    let (front, seen) = cli_support::proxy::start(server.channel(), None, Some(TOKEN)).await;
    let front = format!("http://{front}");
    let dir = tempfile::tempdir().unwrap();
    let token_file = cli_support::certs::write(
        dir.path(),
        "token",
        &format!("# the operators' token\n\n{TOKEN}\n"),
    );

    let refused = run(&["budget", "--server", &front]).await;
    assert_eq!(refused.code, Some(1));
    assert!(
        refused.stderr.starts_with("error: UNAUTHENTICATED: "),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--token-file"),
        "{}",
        refused.stderr
    );

    // Two calls (latest and statistics), each with the header.
    let out = run(&[
        "budget",
        "--json",
        "--token-file",
        &token_file,
        "--server",
        &front,
    ])
    .await
    .json();
    assert_eq!(out["statistics"]["total_adjustments"], 4);
    let bearer = Some(format!("Bearer {TOKEN}"));
    assert_eq!(seen.headers()[1..], [bearer.clone(), bearer.clone()]);

    // From the environment, as scripts and CI secrets pass it.
    let mut command = cli_support::command(&["responses", "--json", "--server", &front]);
    command.env("LEARNING_TOKEN", TOKEN);
    cli_support::run_with(command).await.json();
    let mut command = cli_support::command(&["responses", "--server", &front]);
    command.env("LEARNING_TOKEN", "wrong-token");
    assert_eq!(cli_support::run_with(command).await.code, Some(1));

    // Streams carry it too.
    let mut watch = Watch::spawn(&[
        "entropy",
        "--watch",
        "--token-file",
        &token_file,
        "--server",
        &front,
    ]);
    watch.wait_for_stderr("caught up").await;
    assert_eq!(seen.headers().last(), Some(&bearer));
    assert_eq!(watch.interrupt().await, Some(0));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_mutual_tls() {
    use tonic::transport::{Certificate, Identity, ServerTlsConfig};
    let server = TestServer::start().await;
    seed_budget(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = cli_support::certs::TestCa::new("learning test CA");
    let other_ca = cli_support::certs::TestCa::new("someone else");
    let server_pem = ca.server();
    let client_pem = ca.client("cli");
    let write = |name: &str, text: &str| cli_support::certs::write(dir.path(), name, text);
    let ca_file = write("ca.pem", &ca.cert);
    let other_ca_file = write("other-ca.pem", &other_ca.cert);
    let cert_file = write("client.pem", &client_pem.cert);
    let key_file = write("client.key", &client_pem.key);
    let identity = Identity::from_pem(&server_pem.cert, &server_pem.key);

    // Server authentication only.
    let tls = ServerTlsConfig::new().identity(identity.clone());
    let (front, _) = cli_support::proxy::start(server.channel(), Some(tls), None).await;
    // host:port with --tls-ca means https.
    let out = run(&[
        "budget",
        "--json",
        "--tls-ca",
        &ca_file,
        "--server",
        &front.to_string(),
    ])
    .await
    .json();
    assert_eq!(out["statistics"]["total_adjustments"], 4);
    let https = format!("https://{front}");
    let untrusted = run(&["budget", "--tls-ca", &other_ca_file, "--server", &https]).await;
    assert_eq!(untrusted.code, Some(1));
    assert!(
        untrusted
            .stderr
            .starts_with(&format!("error: cannot connect to {https}: ")),
        "{}",
        untrusted.stderr
    );
    let no_ca = run(&["budget", "--server", &https]).await;
    assert_eq!(no_ca.code, Some(1));
    assert!(no_ca.stderr.contains("needs --tls-ca"), "{}", no_ca.stderr);
    let plain = run(&[
        "budget",
        "--tls-ca",
        &ca_file,
        "--server",
        &format!("http://{front}"),
    ])
    .await;
    assert_eq!(plain.code, Some(1));
    assert!(plain.stderr.contains("use https://"), "{}", plain.stderr);
    let swapped = run(&["budget", "--tls-ca", &key_file, "--server", &https]).await;
    assert_eq!(swapped.code, Some(1));
    assert!(
        swapped.stderr.contains("no PEM CERTIFICATE"),
        "{}",
        swapped.stderr
    );

    // Mutual TLS: a client certificate signed by the CA is required.
    let mtls = ServerTlsConfig::new()
        .identity(identity)
        .client_ca_root(Certificate::from_pem(&ca.cert));
    let (front, _) = cli_support::proxy::start(server.channel(), Some(mtls), None).await;
    let https = format!("https://{front}");
    let out = run(&[
        "responses",
        "--json",
        "--tls-ca",
        &ca_file,
        "--tls-cert",
        &cert_file,
        "--tls-key",
        &key_file,
        "--server",
        &https,
    ])
    .await
    .json();
    assert_eq!(out["statistics"]["total_responses"], 0);
    let anonymous = run(&["budget", "--tls-ca", &ca_file, "--server", &https]).await;
    assert_eq!(anonymous.code, Some(1), "{}", anonymous.stdout);
    assert!(
        anonymous.stderr.contains("pass --tls-cert and --tls-key"),
        "{}",
        anonymous.stderr
    );
    // A watch does not retry a refused handshake: it says why and stops.
    let watch = run(&[
        "entropy", "--watch", "--tls-ca", &ca_file, "--server", &https,
    ])
    .await;
    assert_eq!(watch.code, Some(1), "{}", watch.stderr);
    assert!(watch.stderr.contains("--tls-cert"), "{}", watch.stderr);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_is_a_deadline_not_a_hang() {
    // Accepts connections and holds them without a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = std::time::Instant::now();
    let out = run(&["budget", "--timeout", "300ms", "--server", &address]).await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.starts_with(&format!(
            "error: DEADLINE_EXCEEDED: no answer from http://{address} within 300ms"
        )),
        "{}",
        out.stderr
    );
    // A watch that never worked does not wait forever either.
    let watch = run(&[
        "entropy",
        "--watch",
        "--timeout",
        "300ms",
        "--server",
        &address,
    ])
    .await;
    assert_eq!(watch.code, Some(1), "{}", watch.stderr);
    assert!(
        watch.stderr.contains("DEADLINE_EXCEEDED"),
        "{}",
        watch.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    holder.abort();
}
