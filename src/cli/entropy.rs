//! `learning-service entropy`: the operator view of the original's
//! `mzt patterns-entropy`, plus `--watch` on live snapshots.

use learning_service::pb;
use serde_json::json;

use super::{
    ConnectOptions,
    connect::Connection,
    diversity::{DiversityFlags, effective_use},
    failure::Failure,
    json, page_limit, render,
    render::{Cell, Color, HistoryTable, Section, Style, percent},
    watch,
};

/// A pattern holding more than this share of applications gets a warning.
const DOMINANT_WARNING_SHARE: f64 = 0.5;

#[derive(Debug, clap::Args)]
pub struct EntropyArgs {
    /// Diversity below this is an alert (also marks rows of --history and --watch).
    #[arg(long, short = 't', default_value_t = 0.5)]
    pub threshold: f64,

    /// List recorded snapshots, newest first.
    #[arg(long, short = 'H', conflicts_with_all = ["record", "watch"])]
    pub history: bool,

    /// Rows of --history (the server allows at most 1000).
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: u32,

    /// Record the current snapshot for trend analysis, and print its id.
    #[arg(long, short = 'r', conflicts_with = "watch")]
    pub record: bool,

    /// Print snapshots as they are recorded, until Ctrl-C. Reconnects by
    /// itself when the server restarts, without missing or repeating any.
    #[arg(long, short = 'w')]
    pub watch: bool,

    /// With --watch: first print the N most recently recorded snapshots.
    #[arg(long, requires = "watch", value_name = "N")]
    pub backfill: Option<u32>,

    /// Print JSON for scripts instead of tables (with --watch: one object per line).
    #[arg(long, short = 'j')]
    pub json: bool,

    /// Whose diversity (the current reading and --record only).
    #[command(flatten)]
    pub diversity: DiversityFlags,

    #[command(flatten)]
    pub connect: ConnectOptions,
}

pub async fn run(args: EntropyArgs) -> Result<(), Failure> {
    let connection = Connection::open(&args.connect).await?;
    if args.watch {
        let options = watch::WatchOptions {
            backfill: args.backfill,
            threshold: args.threshold,
            json: args.json,
        };
        watch::run(&connection, &options).await
    } else if args.history {
        history(&connection, &args).await
    } else {
        current(&connection, &args).await
    }
}

async fn current(connection: &Connection, args: &EntropyArgs) -> Result<(), Failure> {
    let mut client = connection.entropy();
    let mut metrics = connection
        .call(client.calculate_pattern_entropy(connection.request(
            pb::CalculatePatternEntropyRequest {
                alert_threshold: Some(args.threshold),
                window: args.diversity.window(),
                pattern_type: args.diversity.pattern_type.clone(),
                instrument_name: args.diversity.instrument.clone(),
            },
        )))
        .await?
        .metrics
        .unwrap_or_default();
    if args.record {
        let recorded = connection
            .call(client.record_pattern_entropy(connection.request(
                pb::RecordPatternEntropyRequest {
                    metrics: Some(metrics.clone()),
                    request_id: String::new(),
                },
            )))
            .await?;
        // Show the snapshot as stored: it carries the id and its time.
        metrics = recorded.metrics.unwrap_or(pb::PatternEntropyMetrics {
            id: recorded.id,
            ..metrics
        });
    }
    if args.json {
        let mut value = json::entropy_metrics(&metrics);
        value["alert_threshold"] = json!(args.threshold);
        value["of"] = json!(args.diversity.describe());
        return render::print_json(&value);
    }
    let of = args.diversity.describe();
    render::print(&current_text(
        &metrics,
        args.threshold,
        of.as_deref(),
        Style::detect(),
    ))
}

/// `of` names the window and scope, when there is one.
fn current_text(
    metrics: &pb::PatternEntropyMetrics,
    threshold: f64,
    of: Option<&str>,
    style: Style,
) -> String {
    let low = metrics.diversity_index < threshold;
    let mut section = Section::new(match of {
        Some(of) => format!("Pattern entropy ({of})"),
        None => "Pattern entropy".to_owned(),
    });
    section.line(
        "Shannon entropy",
        format!(
            "{:.4} bits (max {:.4})",
            metrics.shannon_entropy, metrics.max_possible_entropy
        ),
    );
    section.line(
        "Diversity index",
        format!(
            "{} (alert below {threshold})",
            style.paint(
                &format!("{:.4}", metrics.diversity_index),
                low.then_some(Color::Red)
            )
        ),
    );
    section.line(
        "Patterns applied",
        format!(
            "{} of {} known",
            metrics.effective_pattern_count, metrics.unique_pattern_count
        ),
    );
    if let Some(line) = effective_use(metrics) {
        section.line("Effective", line);
    }
    section.line("Applications", metrics.total_applications.to_string());
    section.line("Dominant share", percent(metrics.dominant_pattern_share));
    section.line(
        "Calculated",
        render::long_time(metrics.calculated_at.as_ref()),
    );
    if !metrics.id.is_empty() {
        section.line("Recorded as", metrics.id.clone());
    }
    let mut out = section.render(style);
    if metrics.total_applications == 0 {
        out.push_str("note: no pattern applications yet, nothing to measure\n");
        return out;
    }
    let warning = style.paint("warning", Some(Color::Yellow));
    if low {
        out.push_str(&format!(
            "{warning}: diversity {:.4} is below the threshold {threshold}: pattern selection is converging\n",
            metrics.diversity_index
        ));
    }
    if metrics.dominant_pattern_share > DOMINANT_WARNING_SHARE {
        out.push_str(&format!(
            "{warning}: one pattern has {} of all applications\n",
            percent(metrics.dominant_pattern_share)
        ));
    }
    out
}

async fn history(connection: &Connection, args: &EntropyArgs) -> Result<(), Failure> {
    let records = connection
        .call(
            connection
                .entropy()
                .get_pattern_entropy_history(connection.request(
                    pb::GetPatternEntropyHistoryRequest {
                        limit: page_limit(args.limit),
                        page_token: String::new(),
                    },
                )),
        )
        .await?
        .records;
    let empty = "No entropy snapshots recorded.\n";
    render::print_history(
        &records,
        args.json,
        json::entropy_metrics,
        empty,
        |records| {
            let columns = [
                Cell::right("Entropy"),
                Cell::right("Max"),
                Cell::right("Diversity"),
                Cell::right("Patterns"),
                Cell::right("Applications"),
                Cell::right("Dominant"),
                Cell::right("Effective"),
                Cell::left("Alert"),
            ];
            // Snapshots belong to no job: the table has no Job column.
            let mut table = HistoryTable::new(false, columns);
            for metrics in records {
                let low = (metrics.diversity_index < args.threshold).then_some(Color::Red);
                table.row(
                    metrics.calculated_at.as_ref(),
                    "",
                    [
                        Cell::right(format!("{:.3}", metrics.shannon_entropy)),
                        Cell::right(format!("{:.3}", metrics.max_possible_entropy)),
                        Cell::right(format!("{:.3}", metrics.diversity_index)).color(low),
                        Cell::right(format!(
                            "{}/{}",
                            metrics.effective_pattern_count, metrics.unique_pattern_count
                        )),
                        Cell::right(metrics.total_applications.to_string()),
                        Cell::right(percent(metrics.dominant_pattern_share)),
                        Cell::right(
                            metrics
                                .perplexity
                                .map_or_else(|| "-".to_owned(), |p| format!("{p:.1}")),
                        ),
                        Cell::left(if metrics.threshold_exceeded {
                            "yes"
                        } else {
                            ""
                        }),
                    ],
                );
            }
            table.into_table()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(diversity: f64, dominant: f64, applications: i64) -> pb::PatternEntropyMetrics {
        pb::PatternEntropyMetrics {
            shannon_entropy: diversity,
            max_possible_entropy: 1.0,
            diversity_index: diversity,
            unique_pattern_count: 2,
            effective_pattern_count: 2,
            total_applications: applications,
            dominant_pattern_share: dominant,
            ..Default::default()
        }
    }

    #[test]
    fn warnings_for_low_diversity_and_a_dominant_pattern() {
        let text = current_text(&metrics(0.2, 0.9, 10), 0.5, None, Style::plain());
        assert!(
            text.contains("diversity 0.2000 is below the threshold 0.5"),
            "{text}"
        );
        assert!(
            text.contains("one pattern has 90.0% of all applications"),
            "{text}"
        );
        let healthy = current_text(&metrics(0.9, 0.5, 10), 0.5, None, Style::plain());
        assert!(!healthy.contains("warning"), "{healthy}");
        let empty = current_text(&metrics(0.0, 0.0, 0), 0.5, None, Style::plain());
        assert!(empty.contains("no pattern applications yet"), "{empty}");
        assert!(!empty.contains("warning"), "{empty}");
    }

    #[test]
    fn watch_lines_mark_low_diversity() {
        let line = watch::snapshot_line(&metrics(0.0, 1.0, 3), 0.5, Style::plain());
        assert!(line.contains("diversity 0.000"), "{line}");
        assert!(line.trim_end().ends_with("LOW"), "{line}");
    }
}
