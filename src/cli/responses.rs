//! `learning-service responses`: the operator view of the original's
//! `mzt entropy-status`.

use learning_service::{domain::records::DEFAULT_COOLDOWN_SECONDS, pb};
use serde_json::json;

use super::{
    ConnectOptions,
    connect::Connection,
    diversity::DiversityFlags,
    explain,
    failure::Failure,
    json, page_limit, render,
    render::{Cell, Color, HistoryTable, Section, Style, fixed},
};

/// More responses than this get a warning, as in the original.
const MANY_RESPONSES: i64 = 10;

#[derive(Debug, clap::Args)]
pub struct ResponsesArgs {
    /// Only this job (default: all jobs). Required by --check.
    #[arg(long, short = 'j')]
    pub job: Option<String>,

    /// List recorded responses, newest first.
    #[arg(long, short = 'H', conflicts_with = "check")]
    pub history: bool,

    /// Rows of --history (the server allows at most 1000).
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: u32,

    /// Dry run: would the job get an entropy response now? Writes nothing.
    /// Needs --job: the original silently checked a job named "default".
    #[arg(long, short = 'c', requires = "job")]
    pub check: bool,

    /// With --check: diversity strictly below this needs a response.
    #[arg(long, requires = "check", default_value_t = 0.3)]
    pub threshold: f64,

    /// With --check: seconds that must pass between two responses of the job.
    #[arg(
        long,
        requires = "check",
        default_value_t = DEFAULT_COOLDOWN_SECONDS as u32,
        value_name = "SECONDS"
    )]
    pub cooldown: u32,

    /// Why each response was recorded: its trigger, inputs, what it
    /// considered, who wrote it (one block per response). JSON always has it.
    #[arg(long, short = 'x', conflicts_with = "check")]
    pub explain: bool,

    /// Print JSON for scripts instead of tables.
    #[arg(long)]
    pub json: bool,

    /// With --check: whose diversity is checked.
    #[command(flatten)]
    pub diversity: DiversityFlags,

    #[command(flatten)]
    pub connect: ConnectOptions,
}

pub async fn run(args: ResponsesArgs) -> Result<(), Failure> {
    let connection = Connection::open(&args.connect).await?;
    if args.check {
        check(&connection, &args).await
    } else if args.history {
        history(&connection, &args).await
    } else {
        summary(&connection, &args).await
    }
}

async fn check(connection: &Connection, args: &ResponsesArgs) -> Result<(), Failure> {
    // clap makes --check require --job; this guards the invariant.
    let job = args
        .job
        .clone()
        .ok_or_else(|| Failure::Message("--check needs --job".into()))?;
    let answer = connection
        .call(
            connection
                .entropy()
                .check_entropy_response_needed(connection.request(
                    pb::CheckEntropyResponseNeededRequest {
                        job_hash: job.clone(),
                        entropy_threshold: Some(args.threshold),
                        cooldown_seconds: Some(i64::from(args.cooldown)),
                        window: args.diversity.window(),
                        pattern_type: args.diversity.pattern_type.clone(),
                        instrument_name: args.diversity.instrument.clone(),
                    },
                )),
        )
        .await?;
    if args.json {
        return render::print_json(&json!({
            "job_hash": job,
            "needs_response": answer.needs_response,
            "current_entropy": answer.current_entropy,
            "reason": answer.reason,
            "cooldown_remaining_seconds": answer.cooldown_remaining_seconds,
            "entropy_threshold": args.threshold,
            "cooldown_seconds": args.cooldown,
            "of": args.diversity.describe(),
        }));
    }
    let style = Style::detect();
    let mut section = Section::new(format!("Entropy response check (job {job})"));
    let needed = if answer.needs_response {
        style.paint("yes", Some(Color::Red))
    } else {
        style.paint("no", Some(Color::Green))
    };
    section.line("Needs response", needed);
    section.line("Current entropy", fixed(answer.current_entropy, 3));
    section.line("Reason", answer.reason.clone());
    if let Some(remaining) = answer.cooldown_remaining_seconds {
        section.line("Cooldown left", format!("{remaining:.0}s"));
    }
    section.line("Threshold", args.threshold.to_string());
    section.line("Cooldown", format!("{}s", args.cooldown));
    if let Some(of) = args.diversity.describe() {
        section.line("Diversity of", of);
    }
    render::print(&section.render(style))
}

async fn summary(connection: &Connection, args: &ResponsesArgs) -> Result<(), Failure> {
    let mut client = connection.entropy();
    let stats = connection
        .call(client.get_entropy_response_statistics(connection.request(
            pb::GetEntropyResponseStatisticsRequest {
                job_hash: args.job.clone(),
            },
        )))
        .await?;
    let last = connection
        .call(client.get_last_entropy_response(connection.request(
            pb::GetLastEntropyResponseRequest {
                job_hash: args.job.clone(),
            },
        )))
        .await?
        .response;
    if args.json {
        return render::print_json(&json!({
            "statistics": json::response_statistics(&stats),
            "last_response": last.as_ref().map(json::response_record),
        }));
    }
    let label = render::job_label(args.job.as_deref());
    let Some(last) = last else {
        return render::print(&format!("No entropy responses recorded ({label}).\n"));
    };
    let style = Style::detect();
    let mut totals = Section::new(format!("Entropy responses ({label})"));
    totals.line("Responses", stats.total_responses.to_string());
    totals.line(
        "Avg entropy at trigger",
        format!("{:.3}", stats.avg_entropy_at_trigger),
    );
    totals.line("Budget boosts", stats.budget_boosts.to_string());
    totals.line("Patterns revisited", stats.quarantine_revisits.to_string());

    let mut latest = Section::new("Last response");
    latest.line("Job", last.job_hash.clone());
    latest.line("Time", render::long_time(last.recorded_at.as_ref()));
    latest.line(
        "Entropy",
        format!(
            "{:.3} (threshold {:.3})",
            last.entropy_at_trigger, last.threshold_used
        ),
    );
    latest.line("Actions", actions(&last));
    latest.line("Budget boosted", yes_no(last.budget_boosted));
    let revisited = if last.patterns_revisited.is_empty() {
        last.quarantine_revisits.to_string()
    } else {
        format!(
            "{} ({})",
            last.quarantine_revisits,
            last.patterns_revisited.join(", ")
        )
    };
    latest.line("Patterns revisited", revisited);

    let mut out = format!("{}\n{}", totals.render(style), latest.render(style));
    if args.explain {
        out.push('\n');
        out.push_str(&explain::response_section(&last).render(style));
    }
    if stats.total_responses > MANY_RESPONSES {
        out.push_str(&format!(
            "\n{}: {} responses: diversity keeps falling below the threshold\n",
            style.paint("warning", Some(Color::Yellow)),
            stats.total_responses
        ));
    }
    render::print(&out)
}

async fn history(connection: &Connection, args: &ResponsesArgs) -> Result<(), Failure> {
    let records = connection
        .call(
            connection
                .entropy()
                .get_entropy_response_history(connection.request(
                    pb::GetEntropyResponseHistoryRequest {
                        job_hash: args.job.clone(),
                        limit: page_limit(args.limit),
                        page_token: String::new(),
                    },
                )),
        )
        .await?
        .records;
    let empty = format!(
        "No entropy responses recorded ({}).\n",
        render::job_label(args.job.as_deref())
    );
    if args.explain && !args.json && !records.is_empty() {
        let sections = records.iter().map(explain::response_section);
        return render::print(&explain::render_all(sections, Style::detect()));
    }
    render::print_history(
        &records,
        args.json,
        json::response_record,
        &empty,
        |records| {
            let columns = [
                Cell::right("Entropy"),
                Cell::right("Threshold"),
                Cell::left("Actions"),
                Cell::left("Boosted"),
                Cell::right("Revisits"),
            ];
            let mut table = HistoryTable::new(args.job.is_none(), columns);
            for record in records {
                table.row(
                    record.recorded_at.as_ref(),
                    &record.job_hash,
                    [
                        Cell::right(format!("{:.3}", record.entropy_at_trigger))
                            .color(Some(Color::Red)),
                        Cell::right(format!("{:.3}", record.threshold_used)),
                        Cell::left(actions(record)),
                        Cell::left(yes_no(record.budget_boosted)),
                        Cell::right(record.quarantine_revisits.to_string()),
                    ],
                );
            }
            table.into_table()
        },
    )
}

fn actions(record: &pb::EntropyResponseRecord) -> String {
    if record.actions_taken.is_empty() {
        return "none".to_string();
    }
    record
        .actions_taken
        .iter()
        .map(|a| json::action(*a))
        .collect::<Vec<_>>()
        .join(", ")
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_string()
}
