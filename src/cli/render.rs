//! Text for people: aligned tables, colours, and number and time formats.

use std::io::{IsTerminal, Write};

use chrono::{DateTime, Local, Utc};
use prost_types::Timestamp;

use super::failure::Failure;

/// Writes to standard output. A closed pipe (`| head`) ends the command
/// quietly instead of panicking like `println!`.
pub fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => Failure::OutputClosed,
            _ => Failure::Message(format!("cannot write to standard output: {e}")),
        })
}

/// One JSON document on one line, for scripts.
pub fn print_json(value: &serde_json::Value) -> Result<(), Failure> {
    print(&format!("{value}\n"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    Red,
    Yellow,
    Green,
    Cyan,
    Bold,
    Dim,
}

impl Color {
    fn code(self) -> &'static str {
        match self {
            Self::Red => "31",
            Self::Yellow => "33",
            Self::Green => "32",
            Self::Cyan => "36",
            Self::Bold => "1",
            Self::Dim => "2",
        }
    }
}

/// Whether to colour: only on a terminal, and never when NO_COLOR is set
/// to something (https://no-color.org).
#[derive(Clone, Copy, Debug)]
pub struct Style {
    enabled: bool,
}

impl Style {
    pub fn detect() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            enabled: std::io::stdout().is_terminal() && !no_color,
        }
    }

    #[cfg(test)]
    pub fn plain() -> Self {
        Self { enabled: false }
    }

    pub fn paint(self, text: &str, color: Option<Color>) -> String {
        match color {
            Some(color) if self.enabled => format!("\x1b[{}m{text}\x1b[0m", color.code()),
            _ => text.to_string(),
        }
    }
}

/// A cell: its text, and optionally a colour that does not count towards
/// the column width.
#[derive(Clone, Debug)]
pub struct Cell {
    text: String,
    color: Option<Color>,
    right: bool,
}

impl Cell {
    pub fn left(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            color: None,
            right: false,
        }
    }

    /// Numbers line up on their last digit.
    pub fn right(text: impl Into<String>) -> Self {
        Self {
            right: true,
            ..Self::left(text)
        }
    }

    pub fn color(mut self, color: Option<Color>) -> Self {
        self.color = color;
        self
    }
}

/// A plain-text table: a header, a rule, and rows, columns two spaces apart.
pub struct Table {
    header: Vec<Cell>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(header: Vec<Cell>) -> Self {
        Self {
            header,
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    pub fn render(&self, style: Style) -> String {
        let columns = self.header.len();
        let mut widths = vec![0; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (index, cell) in row.iter().enumerate().take(columns) {
                widths[index] = widths[index].max(cell.text.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<Cell> = self
            .header
            .iter()
            .map(|c| c.clone().color(Some(Color::Bold)))
            .collect();
        push_row(&mut out, &header, &widths, style);
        let rule: Vec<Cell> = widths
            .iter()
            .map(|w| Cell::left("-".repeat(*w)).color(Some(Color::Dim)))
            .collect();
        push_row(&mut out, &rule, &widths, style);
        for row in &self.rows {
            push_row(&mut out, row, &widths, style);
        }
        out
    }
}

fn push_row(out: &mut String, row: &[Cell], widths: &[usize], style: Style) {
    let mut line = String::new();
    let last = row.len().min(widths.len()).saturating_sub(1);
    for (index, (cell, width)) in row.iter().zip(widths).enumerate() {
        if index > 0 {
            line.push_str("  ");
        }
        let padding = " ".repeat(width.saturating_sub(cell.text.chars().count()));
        let painted = style.paint(&cell.text, cell.color);
        if cell.right {
            line.push_str(&padding);
            line.push_str(&painted);
        } else {
            line.push_str(&painted);
            // The last column is not padded: no trailing blanks.
            if index < last {
                line.push_str(&padding);
            }
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// Aligned `label: value` lines under a title.
pub struct Section {
    title: String,
    lines: Vec<(String, String)>,
}

impl Section {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            lines: Vec::new(),
        }
    }

    /// `value` may already be painted: only labels are aligned.
    pub fn line(&mut self, label: &str, value: impl Into<String>) {
        self.lines.push((label.to_string(), value.into()));
    }

    pub fn render(&self, style: Style) -> String {
        let width = self
            .lines
            .iter()
            .map(|(label, _)| label.chars().count() + 1)
            .max()
            .unwrap_or(0);
        let mut out = style.paint(&self.title, Some(Color::Bold));
        out.push('\n');
        for (label, value) in &self.lines {
            out.push_str(&format!("  {:<width$}  {value}\n", format!("{label}:")));
        }
        out
    }
}

/// A fraction as a percent with one decimal: 0.15 -> "15.0%".
pub fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// A fraction with `decimals` decimals; "-" when absent. 0.0 is "0.000",
/// never blank: an entropy of zero is a measurement, not a missing one.
pub fn fixed(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.decimals$}"))
}

fn local(at: &Timestamp) -> Option<DateTime<Local>> {
    let nanos = u32::try_from(at.nanos).ok()?;
    DateTime::<Utc>::from_timestamp(at.seconds, nanos).map(|t| t.with_timezone(&Local))
}

/// Local time for table rows: `mm-dd HH:MM:SS`.
/// A history listing: one JSON array with `--json`; otherwise `empty` when
/// there are no records, or the table `table` makes of them.
pub fn print_history<R>(
    records: &[R],
    as_json: bool,
    to_json: fn(&R) -> serde_json::Value,
    empty: &str,
    table: impl FnOnce(&[R]) -> Table,
) -> Result<(), Failure> {
    if as_json {
        let list = records.iter().map(to_json).collect();
        return print_json(&serde_json::Value::Array(list));
    }
    if records.is_empty() {
        return print(empty);
    }
    print(&table(records).render(Style::detect()))
}

/// A history table: each row starts with its local time and, when the
/// listing covers every job, the job.
pub struct HistoryTable {
    table: Table,
    with_job: bool,
}

impl HistoryTable {
    pub fn new(with_job: bool, columns: impl IntoIterator<Item = Cell>) -> Self {
        let mut header = vec![Cell::left("Time")];
        if with_job {
            header.push(Cell::left("Job"));
        }
        header.extend(columns);
        Self {
            table: Table::new(header),
            with_job,
        }
    }

    pub fn row(
        &mut self,
        at: Option<&Timestamp>,
        job: &str,
        cells: impl IntoIterator<Item = Cell>,
    ) {
        let mut row = vec![Cell::left(short_time(at))];
        if self.with_job {
            row.push(Cell::left(job.to_owned()));
        }
        row.extend(cells);
        self.table.row(row);
    }

    pub fn into_table(self) -> Table {
        self.table
    }
}

pub fn short_time(at: Option<&Timestamp>) -> String {
    at.and_then(local)
        .map_or_else(|| "-".into(), |t| t.format("%m-%d %H:%M:%S").to_string())
}

/// Local time for detail views: `YYYY-MM-DD HH:MM:SS`.
pub fn long_time(at: Option<&Timestamp>) -> String {
    at.and_then(local)
        .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// What a job filter means, for titles.
pub fn job_label(job: Option<&str>) -> String {
    match job {
        Some(job) if !job.is_empty() => format!("job {job}"),
        _ => "all jobs".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_ignore_colours_for_width() {
        let mut table = Table::new(vec![Cell::left("Name"), Cell::right("Value")]);
        table.row(vec![
            Cell::left("a").color(Some(Color::Red)),
            Cell::right("1.5"),
        ]);
        table.row(vec![Cell::left("longer"), Cell::right("10.25")]);
        assert_eq!(
            table.render(Style::plain()),
            "Name    Value\n------  -----\na         1.5\nlonger  10.25\n"
        );
        let coloured = table.render(Style { enabled: true });
        assert!(coloured.contains("\x1b[31ma\x1b[0m     "));
    }

    #[test]
    fn zero_is_a_value_and_absence_is_a_dash() {
        assert_eq!(fixed(Some(0.0), 3), "0.000");
        assert_eq!(fixed(None, 3), "-");
        assert_eq!(percent(0.15), "15.0%");
    }

    #[test]
    fn sections_align_labels() {
        let mut section = Section::new("Title");
        section.line("A", "1");
        section.line("Longer", "2");
        assert_eq!(
            section.render(Style::plain()),
            "Title\n  A:       1\n  Longer:  2\n"
        );
    }
}
