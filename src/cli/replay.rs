//! `learning-service replay`: what other budget policies would have done
//! with a job's recorded entropy readings (BudgetService.ReplayBudgetPolicy),
//! as a table with a sparkline per policy, or JSON.

use chrono::{DateTime, Utc};
use learning_service::pb;
use serde_json::{Value, json};

use super::{
    ConnectOptions,
    connect::Connection,
    failure::Failure,
    json,
    render::{self, Cell, Style, Table, percent},
    sparkline::sparkline,
};

/// Characters of each sparkline.
const SPARKLINE_WIDTH: usize = 40;

/// The keys of `--candidate`, the same names as the single-candidate flags.
const KEYS: &str = "threshold, decay, boost, floor, ceiling, initial, response-threshold, cooldown";

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The job whose recorded readings are replayed.
    #[arg(long, short = 'j')]
    pub job: String,

    /// From this time: RFC 3339 (2025-06-01T00:00:00Z) or a duration ago (7d, 12h).
    #[arg(long, value_parser = parse_when)]
    pub since: Option<DateTime<Utc>>,

    /// Up to this time, in the same forms as --since.
    #[arg(long, value_parser = parse_when)]
    pub until: Option<DateTime<Utc>>,

    /// One candidate from flags: entropy strictly below this boosts.
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Multiplier of a decay, in (0, 1].
    #[arg(long)]
    pub decay: Option<f64>,
    /// Amount added by a boost (and by a modelled response).
    #[arg(long)]
    pub boost: Option<f64>,
    #[arg(long)]
    pub floor: Option<f64>,
    #[arg(long)]
    pub ceiling: Option<f64>,
    /// Budget of a job that had none before the first reading.
    #[arg(long)]
    pub initial: Option<f64>,
    /// Model an entropy response below this diversity.
    #[arg(long)]
    pub response_threshold: Option<f64>,
    /// Seconds between two modelled responses.
    #[arg(long, value_name = "SECONDS")]
    pub cooldown: Option<i64>,

    /// Another candidate, e.g. 'threshold=0.4,decay=0.9' (repeatable). Keys:
    /// threshold, decay, boost, floor, ceiling, initial, response-threshold, cooldown.
    #[arg(long = "candidate", value_name = "KEY=VALUE,...", value_parser = parse_candidate)]
    pub candidates: Vec<pb::BudgetPolicy>,

    /// Only the summaries (no sparklines; for long ranges and big sweeps).
    #[arg(long)]
    pub summaries_only: bool,

    /// Print JSON for scripts instead of the table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub connect: ConnectOptions,
}

impl ReplayArgs {
    /// The candidate of the single-candidate flags, if any is given.
    fn flag_candidate(&self) -> Option<pb::BudgetPolicy> {
        let policy = pb::BudgetPolicy {
            floor: self.floor,
            ceiling: self.ceiling,
            decay_rate: self.decay,
            boost_amount: self.boost,
            entropy_threshold: self.threshold,
            initial_budget: self.initial,
            response_threshold: self.response_threshold,
            response_cooldown_seconds: self.cooldown,
        };
        (policy != pb::BudgetPolicy::default()).then_some(policy)
    }
}

fn parse_when(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let ago = humantime::parse_duration(text)
        .map_err(|_| format!("expected RFC 3339 or a duration such as 7d, got {text:?}"))?;
    chrono::Duration::from_std(ago)
        .ok()
        .and_then(|ago| Utc::now().checked_sub_signed(ago))
        .ok_or_else(|| format!("{text:?} is too long ago"))
}

fn parse_candidate(text: &str) -> Result<pb::BudgetPolicy, String> {
    let mut policy = pb::BudgetPolicy::default();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("expected KEY=VALUE, got {pair:?}"))?;
        let number = || {
            value
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("{key}: expected a number, got {value:?}"))
        };
        match key.trim() {
            "threshold" => policy.entropy_threshold = Some(number()?),
            "decay" => policy.decay_rate = Some(number()?),
            "boost" => policy.boost_amount = Some(number()?),
            "floor" => policy.floor = Some(number()?),
            "ceiling" => policy.ceiling = Some(number()?),
            "initial" => policy.initial_budget = Some(number()?),
            "response-threshold" => policy.response_threshold = Some(number()?),
            "cooldown" => {
                let seconds = value
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| format!("cooldown: expected whole seconds, got {value:?}"))?;
                policy.response_cooldown_seconds = Some(seconds);
            }
            other => return Err(format!("unknown key {other:?} (keys: {KEYS})")),
        }
    }
    Ok(policy)
}

pub async fn run(args: ReplayArgs) -> Result<(), Failure> {
    let connection = Connection::open(&args.connect).await?;
    let candidates: Vec<pb::BudgetPolicy> = args
        .flag_candidate()
        .into_iter()
        .chain(args.candidates.iter().cloned())
        .collect();
    let answer = connection
        .call(connection.budget().replay_budget_policy(connection.request(
            pb::ReplayBudgetPolicyRequest {
                job_hash: args.job.clone(),
                since: args.since.map(timestamp),
                until: args.until.map(timestamp),
                candidates,
                summaries_only: args.summaries_only,
            },
        )))
        .await?;
    if args.json {
        return render::print_json(&answer_json(&args, &answer));
    }
    render::print(&comparison(&args, &answer, Style::detect()))
}

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// Every trajectory in answer order: the recorded one, then the candidates.
fn trajectories(answer: &pb::ReplayBudgetPolicyResponse) -> Vec<&pb::PolicyReplay> {
    answer.actual.iter().chain(&answer.candidates).collect()
}

/// What a candidate changes from the defaults, e.g. `threshold=0.4 decay=0.9`.
fn label(policy: Option<&pb::BudgetPolicy>) -> String {
    let Some(p) = policy else {
        return "recorded".to_owned();
    };
    let defaults = [
        ("threshold", p.entropy_threshold, 0.3),
        ("decay", p.decay_rate, 0.95),
        ("boost", p.boost_amount, 0.10),
        ("floor", p.floor, 0.05),
        ("ceiling", p.ceiling, 0.50),
        ("initial", p.initial_budget, 0.15),
    ];
    let mut parts: Vec<String> = defaults
        .into_iter()
        .filter_map(|(key, value, default)| {
            value
                .filter(|v| *v != default)
                .map(|v| format!("{key}={v}"))
        })
        .collect();
    if let Some(threshold) = p.response_threshold {
        parts.push(format!("response-threshold={threshold}"));
    }
    if let Some(cooldown) = p.response_cooldown_seconds {
        parts.push(format!("cooldown={cooldown}"));
    }
    if parts.is_empty() {
        "defaults".to_owned()
    } else {
        parts.join(" ")
    }
}

fn comparison(args: &ReplayArgs, answer: &pb::ReplayBudgetPolicyResponse, style: Style) -> String {
    let all = trajectories(answer);
    let readings = answer
        .actual
        .as_ref()
        .and_then(|a| a.summary.as_ref())
        .map_or(0, |s| s.steps);
    let since = args.since.map_or("the oldest record".to_owned(), |t| {
        render::long_time(Some(&timestamp(t)))
    });
    let until = args
        .until
        .map_or("now".to_owned(), |t| render::long_time(Some(&timestamp(t))));
    let start = answer
        .start_budget
        .map_or("no budget (initial)".to_owned(), percent);
    let mut out = format!(
        "Policy replay (job {}, {since} to {until}): {readings} readings, starting from {start}\n",
        args.job
    );
    if answer.records_left_out > 0 {
        out.push_str(&format!(
            "{} records were not readings (response boosts, explicit updates) and were left out\n",
            answer.records_left_out
        ));
    }
    if readings == 0 {
        out.push_str("No readings in this range.\n");
        return out;
    }
    out.push('\n');
    // One scale for every sparkline, so that they compare by eye.
    let values = || {
        all.iter()
            .flat_map(|t| t.steps.iter().map(|s| s.budget_value))
    };
    let low = values().fold(f64::INFINITY, f64::min);
    let high = values().fold(f64::NEG_INFINITY, f64::max);
    let mut header = [
        "Policy",
        "Mean",
        "Min",
        "Max",
        "Final",
        "At floor",
        "At ceiling",
        "Boosts",
        "Decays",
        "Responses",
    ]
    .map(Cell::right)
    .to_vec();
    header[0] = Cell::left("Policy");
    if !args.summaries_only {
        header.push(Cell::left("Trajectory"));
    }
    let mut table = Table::new(header);
    for trajectory in &all {
        let s = trajectory.summary.unwrap_or_default();
        let mut row = vec![
            Cell::left(label(trajectory.policy.as_ref())),
            Cell::right(percent(s.mean_budget)),
            Cell::right(percent(s.min_budget)),
            Cell::right(percent(s.max_budget)),
            Cell::right(s.final_budget.map_or("-".to_owned(), percent)),
            Cell::right(percent(s.floor_share)),
            Cell::right(percent(s.ceiling_share)),
            Cell::right(s.boosts.to_string()),
            Cell::right(s.decays.to_string()),
            Cell::right(s.responses.to_string()),
        ];
        if !args.summaries_only {
            let budgets: Vec<f64> = trajectory.steps.iter().map(|s| s.budget_value).collect();
            row.push(Cell::left(sparkline(&budgets, SPARKLINE_WIDTH, low, high)));
        }
        table.row(row);
    }
    out.push_str(&table.render(style));
    if !args.summaries_only {
        out.push_str(&format!(
            "\nSparklines share one scale, {} to {}.\n",
            percent(low),
            percent(high)
        ));
    }
    out
}

fn answer_json(args: &ReplayArgs, answer: &pb::ReplayBudgetPolicyResponse) -> Value {
    let replay = |t: &pb::PolicyReplay| {
        let steps: Vec<Value> = t
            .steps
            .iter()
            .map(|s| {
                json!({
                    "recorded_at": json::time(s.recorded_at.as_ref()),
                    "entropy": s.entropy,
                    "budget_value": s.budget_value,
                    "adjustment_type": json::adjustment_type_name(s.adjustment_type()),
                    "response_fired": s.response_fired,
                })
            })
            .collect();
        let s = t.summary.unwrap_or_default();
        json!({
            "label": label(t.policy.as_ref()),
            "policy": t.policy.as_ref().map(|p| json!({
                "floor": p.floor,
                "ceiling": p.ceiling,
                "decay_rate": p.decay_rate,
                "boost_amount": p.boost_amount,
                "entropy_threshold": p.entropy_threshold,
                "initial_budget": p.initial_budget,
                "response_threshold": p.response_threshold,
                "response_cooldown_seconds": p.response_cooldown_seconds,
            })),
            "summary": {
                "steps": s.steps,
                "mean_budget": s.mean_budget,
                "min_budget": s.min_budget,
                "max_budget": s.max_budget,
                "final_budget": s.final_budget,
                "floor_share": s.floor_share,
                "ceiling_share": s.ceiling_share,
                "boosts": s.boosts,
                "decays": s.decays,
                "floor_enforcements": s.floor_enforcements,
                "ceiling_enforcements": s.ceiling_enforcements,
                "initials": s.initials,
                "responses": s.responses,
            },
            "steps": steps,
        })
    };
    json!({
        "job_hash": args.job,
        "since": args.since.map(|t| json::time(Some(&timestamp(t)))),
        "until": args.until.map(|t| json::time(Some(&timestamp(t)))),
        "start_budget": answer.start_budget,
        "records_left_out": answer.records_left_out,
        "actual": answer.actual.as_ref().map(replay),
        "candidates": answer.candidates.iter().map(replay).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_parse_from_key_value_lists() {
        let policy = parse_candidate("threshold=0.4, decay=0.9,cooldown=600").unwrap();
        assert_eq!(policy.entropy_threshold, Some(0.4));
        assert_eq!(policy.decay_rate, Some(0.9));
        assert_eq!(policy.response_cooldown_seconds, Some(600));
        assert_eq!(policy.floor, None);
        assert!(
            parse_candidate("speed=3")
                .unwrap_err()
                .contains("unknown key")
        );
        assert!(parse_candidate("decay").unwrap_err().contains("KEY=VALUE"));
        assert!(parse_candidate("decay=fast").unwrap_err().contains("decay"));
    }

    #[test]
    fn labels_name_what_differs_from_the_defaults() {
        let policy = pb::BudgetPolicy {
            entropy_threshold: Some(0.4),
            decay_rate: Some(0.95),
            ..Default::default()
        };
        assert_eq!(label(Some(&policy)), "threshold=0.4");
        assert_eq!(label(Some(&pb::BudgetPolicy::default())), "defaults");
        assert_eq!(label(None), "recorded");
    }

    #[test]
    fn times_are_rfc3339_or_a_duration_ago() {
        let at = parse_when("2025-06-01T00:00:00Z").unwrap();
        assert_eq!(at.timestamp(), 1_748_736_000);
        let ago = parse_when("7d").unwrap();
        let expected = Utc::now() - chrono::Duration::days(7);
        assert!((ago - expected).num_seconds().abs() < 5);
        assert!(parse_when("last week").is_err());
    }
}
