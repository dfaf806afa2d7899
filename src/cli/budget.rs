//! `learning-service budget`: the operator view of the original's
//! `mzt patterns-budget`.

use learning_service::pb;
use serde_json::{Value, json};

use super::{
    ConnectOptions,
    connect::Connection,
    explain,
    failure::Failure,
    json, page_limit,
    render::{self, Cell, Color, HistoryTable, Section, Style, Table, fixed, percent},
};

/// A budget at or below this is shown as Low.
const LOW_BUDGET: f64 = 0.10;
/// A budget at or above this is shown as High.
const HIGH_BUDGET: f64 = 0.30;
/// Entropy below this is shown in red (the default boost threshold).
const LOW_ENTROPY: f64 = 0.3;
/// Floor enforcements above this share of all adjustments get a warning.
const FLOOR_WARNING_SHARE: f64 = 0.30;

#[derive(Debug, clap::Args)]
pub struct BudgetArgs {
    /// Only this job (default: all jobs).
    #[arg(long, short = 'j')]
    pub job: Option<String>,

    /// List recorded budget values, newest first.
    #[arg(long, short = 'H')]
    pub history: bool,

    /// Rows of --history (the server allows at most 1000).
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: u32,

    /// Why each value is what it is: the rule, its inputs, who wrote it
    /// (one block per record instead of the table). JSON always has it.
    #[arg(long, short = 'x')]
    pub explain: bool,

    /// Print JSON for scripts instead of tables.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub connect: ConnectOptions,
}

pub async fn run(args: BudgetArgs) -> Result<(), Failure> {
    let connection = Connection::open(&args.connect).await?;
    if args.history {
        history(&connection, &args).await
    } else {
        current(&connection, &args).await
    }
}

async fn current(connection: &Connection, args: &BudgetArgs) -> Result<(), Failure> {
    let mut client = connection.budget();
    let latest = connection
        .call(
            client.get_exploration_budget(connection.request(pb::GetExplorationBudgetRequest {
                job_hash: args.job.clone(),
            })),
        )
        .await?
        .budget;
    let stats = connection
        .call(client.get_exploration_budget_statistics(connection.request(
            pb::GetExplorationBudgetStatisticsRequest {
                job_hash: args.job.clone(),
            },
        )))
        .await?;
    let advisory = Advisory::of(&stats);
    if args.json {
        let current = latest.as_ref().map(|record| {
            let mut value = json::budget_record(record);
            value["level"] = json!(Level::of(record.budget_value).name());
            value
        });
        return render::print_json(&json!({
            "current": current,
            "statistics": json::budget_statistics(&stats),
            "advisory": advisory.as_ref().map(Advisory::json),
        }));
    }
    let style = Style::detect();
    let Some(record) = latest else {
        return render::print(&format!(
            "No exploration budget recorded ({}).\n",
            render::job_label(args.job.as_deref())
        ));
    };
    render::print(&current_text(&record, &stats, advisory, args, style))
}

fn current_text(
    record: &pb::ExplorationBudgetRecord,
    stats: &pb::GetExplorationBudgetStatisticsResponse,
    advisory: Option<Advisory>,
    args: &BudgetArgs,
    style: Style,
) -> String {
    let level = Level::of(record.budget_value);
    let mut now = Section::new(format!(
        "Exploration budget ({})",
        render::job_label(args.job.as_deref())
    ));
    now.line(
        "Current",
        style.paint(
            &format!("{} ({})", percent(record.budget_value), level.name()),
            level.color(),
        ),
    );
    if args.job.is_none() {
        now.line("Job", record.job_hash.clone());
    }
    now.line("Entropy", entropy_text(record.entropy_at_time, style));
    now.line("Last type", json::adjustment_type(record));
    if let Some(reason) = &record.adjustment_reason {
        now.line("Reason", reason.clone());
    }
    now.line("Recorded", render::long_time(record.recorded_at.as_ref()));

    let mut summary = Section::new(format!("Statistics ({} records)", stats.total_adjustments));
    summary.line("Average", percent(stats.avg_budget));
    summary.line(
        "Range",
        format!(
            "{} - {}",
            percent(stats.min_budget),
            percent(stats.max_budget)
        ),
    );
    summary.line("Boosts", stats.boost_count.to_string());
    summary.line("Decays", stats.decay_count.to_string());
    summary.line("Floor enforced", stats.floor_enforcements.to_string());
    summary.line("Ceiling enforced", stats.ceiling_enforcements.to_string());
    summary.line("Initial", stats.initial_count.to_string());

    let mut out = format!("{}\n{}", now.render(style), summary.render(style));
    if args.explain {
        out.push('\n');
        out.push_str(&explain::budget_section(record).render(style));
    }
    if let Some(advisory) = advisory {
        out.push('\n');
        out.push_str(&advisory.render(style));
    }
    out
}

async fn history(connection: &Connection, args: &BudgetArgs) -> Result<(), Failure> {
    let records = connection
        .call(
            connection
                .budget()
                .get_exploration_budget_history(connection.request(
                    pb::GetExplorationBudgetHistoryRequest {
                        job_hash: args.job.clone(),
                        limit: page_limit(args.limit),
                        page_token: String::new(),
                    },
                )),
        )
        .await?
        .records;
    let empty = format!(
        "No exploration budget records ({}).\n",
        render::job_label(args.job.as_deref())
    );
    if args.explain && !args.json && !records.is_empty() {
        let sections = records.iter().map(explain::budget_section);
        return render::print(&explain::render_all(sections, Style::detect()));
    }
    render::print_history(
        &records,
        args.json,
        json::budget_record,
        &empty,
        |records| history_table(records, args.job.is_none()),
    )
}

fn history_table(records: &[pb::ExplorationBudgetRecord], with_job: bool) -> Table {
    let columns = [
        Cell::right("Budget"),
        Cell::right("Entropy"),
        Cell::left("Type"),
        Cell::left("Reason"),
    ];
    let mut table = HistoryTable::new(with_job, columns);
    for record in records {
        table.row(
            record.recorded_at.as_ref(),
            &record.job_hash,
            [
                Cell::right(percent(record.budget_value))
                    .color(Level::of(record.budget_value).color()),
                Cell::right(fixed(record.entropy_at_time, 3))
                    .color(entropy_color(record.entropy_at_time)),
                Cell::left(json::adjustment_type(record)),
                Cell::left(record.adjustment_reason.clone().unwrap_or_default()),
            ],
        );
    }
    table.into_table()
}

fn entropy_text(entropy: Option<f64>, style: Style) -> String {
    style.paint(&fixed(entropy, 3), entropy_color(entropy))
}

fn entropy_color(entropy: Option<f64>) -> Option<Color> {
    entropy.filter(|e| *e < LOW_ENTROPY).map(|_| Color::Red)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Low,
    Normal,
    High,
}

impl Level {
    fn of(budget: f64) -> Self {
        if budget <= LOW_BUDGET {
            Self::Low
        } else if budget >= HIGH_BUDGET {
            Self::High
        } else {
            Self::Normal
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Normal => "Normal",
            Self::High => "High",
        }
    }

    fn color(self) -> Option<Color> {
        match self {
            Self::Low => Some(Color::Yellow),
            Self::Normal => None,
            Self::High => Some(Color::Cyan),
        }
    }
}

/// The original's one-line reading of the statistics.
#[derive(Clone, Debug, PartialEq)]
enum Advisory {
    /// Floor enforcements are more than 30% of all adjustments.
    FloorHeavy {
        share: f64,
    },
    /// Boosts are more than twice the decays.
    BoostHeavy {
        boosts: i64,
        decays: i64,
    },
    Normal,
}

impl Advisory {
    /// None without records: there is nothing to read.
    fn of(stats: &pb::GetExplorationBudgetStatisticsResponse) -> Option<Self> {
        if stats.total_adjustments <= 0 {
            return None;
        }
        let share = stats.floor_enforcements as f64 / stats.total_adjustments as f64;
        Some(if share > FLOOR_WARNING_SHARE {
            Self::FloorHeavy { share }
        } else if stats.boost_count > 2 * stats.decay_count {
            Self::BoostHeavy {
                boosts: stats.boost_count,
                decays: stats.decay_count,
            }
        } else {
            Self::Normal
        })
    }

    fn level(&self) -> &'static str {
        match self {
            Self::FloorHeavy { .. } => "warning",
            Self::BoostHeavy { .. } => "info",
            Self::Normal => "ok",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::FloorHeavy { share } => format!(
                "{} of adjustments hit the floor: entropy may be persistently low",
                percent(*share)
            ),
            Self::BoostHeavy { boosts, decays } => {
                format!("{boosts} boosts against {decays} decays: pattern diversity is often low")
            }
            Self::Normal => "budget adjusting normally".to_string(),
        }
    }

    fn json(&self) -> Value {
        json!({ "level": self.level(), "message": self.message() })
    }

    fn render(&self, style: Style) -> String {
        let color = match self {
            Self::FloorHeavy { .. } => Color::Yellow,
            Self::BoostHeavy { .. } => Color::Cyan,
            Self::Normal => Color::Green,
        };
        format!(
            "{}: {}\n",
            style.paint(self.level(), Some(color)),
            self.message()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(
        total: i64,
        floor: i64,
        boosts: i64,
        decays: i64,
    ) -> pb::GetExplorationBudgetStatisticsResponse {
        pb::GetExplorationBudgetStatisticsResponse {
            total_adjustments: total,
            floor_enforcements: floor,
            boost_count: boosts,
            decay_count: decays,
            ..Default::default()
        }
    }

    #[test]
    fn levels_follow_the_original_bounds() {
        assert_eq!(Level::of(0.10), Level::Low);
        assert_eq!(Level::of(0.1000001), Level::Normal);
        assert_eq!(Level::of(0.30), Level::High);
        assert_eq!(Level::of(0.2999), Level::Normal);
    }

    #[test]
    fn advisories_follow_the_original_order() {
        assert_eq!(Advisory::of(&stats(0, 0, 0, 0)), None);
        assert_eq!(
            Advisory::of(&stats(10, 4, 6, 0)),
            Some(Advisory::FloorHeavy { share: 0.4 })
        );
        // Exactly 30% is not "more than 30%".
        assert_eq!(
            Advisory::of(&stats(10, 3, 5, 2)),
            Some(Advisory::BoostHeavy {
                boosts: 5,
                decays: 2
            })
        );
        assert_eq!(Advisory::of(&stats(10, 3, 4, 2)), Some(Advisory::Normal));
    }
}
