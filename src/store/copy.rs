//! What `learning-service migrate` carries from one backend to another: the
//! tables, their columns (the same names on both sides) and how each value
//! is read from a source that any program may have written, so that the
//! target answers every read as the source does. No SQL: the SQLite side
//! reads these columns (`sqlite::export`), the PostgreSQL side writes them
//! (`postgres::import`).

/// A table a migration copies, in the order it copies them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyTable {
    Patterns,
    Applications,
    Budget,
    Responses,
    Snapshots,
}

impl CopyTable {
    pub const ALL: [CopyTable; 5] = [
        CopyTable::Patterns,
        CopyTable::Applications,
        CopyTable::Budget,
        CopyTable::Responses,
        CopyTable::Snapshots,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CopyTable::Patterns => "patterns",
            CopyTable::Applications => "pattern_applications",
            CopyTable::Budget => "exploration_budget",
            CopyTable::Responses => "entropy_responses",
            CopyTable::Snapshots => "pattern_entropy_history",
        }
    }

    /// Whether the target orders the table's rows by a stream position
    /// (every table but the applications, which are only counted).
    pub fn has_position(self) -> bool {
        self != CopyTable::Applications
    }

    /// The table of the records' explanations (the same on both backends,
    /// keyed by `record_id`), copied with the records they explain.
    pub fn explanations(self) -> Option<&'static str> {
        match self {
            CopyTable::Budget => Some("ls_budget_explanation"),
            CopyTable::Responses => Some("ls_response_explanation"),
            _ => None,
        }
    }

    /// The columns, in the order of every row's values; the first is `id`.
    pub fn columns(self) -> &'static [(&'static str, Kind)] {
        use Kind::*;
        match self {
            CopyTable::Budget => &[
                ("id", RequiredText),
                ("job_hash", RequiredText),
                ("recorded_at", RequiredTime),
                ("budget_value", RequiredReal),
                ("entropy_at_time", Real),
                ("adjustment_type", RequiredText),
                ("adjustment_reason", Text),
            ],
            CopyTable::Responses => &[
                ("id", RequiredText),
                ("job_hash", RequiredText),
                ("recorded_at", RequiredTime),
                ("entropy_at_trigger", RequiredReal),
                ("threshold_used", RequiredReal),
                ("actions_taken", List),
                ("budget_boosted", Flag(false)),
                ("quarantine_revisits", Count),
                ("patterns_revisited", List),
            ],
            CopyTable::Snapshots => &[
                ("id", RequiredText),
                ("calculated_at", ExactText),
                ("shannon_entropy", RequiredReal),
                ("max_possible_entropy", RequiredReal),
                ("diversity_index", RequiredReal),
                ("unique_pattern_count", RequiredInteger),
                ("effective_pattern_count", RequiredInteger),
                ("total_applications", RequiredInteger),
                ("dominant_pattern_share", RequiredReal),
                ("threshold_exceeded", Flag(false)),
                // On SQLite in `ls_snapshot_diversity` (none in the original's file).
                ("perplexity", Real),
                ("inverse_simpson", Real),
            ],
            CopyTable::Patterns => &[
                ("id", RequiredText),
                ("pattern_type", RequiredText),
                ("pattern_name", RequiredText),
                ("description", Text),
                ("occurrence_count", Integer),
                ("first_seen", Time),
                ("last_seen", Time),
                ("last_confirmed", Time),
                ("led_to_success_count", Integer),
                ("led_to_failure_count", Integer),
                ("effectiveness_score", Real),
                ("variance", Real),
                ("suggested_action", Text),
                ("context_tags", Text),
                ("priority_score", Real),
                ("quarantine_status", Text),
                ("provenance_job_hash", Text),
                ("provenance_sheet_num", Integer),
                ("quarantined_at", Time),
                ("validated_at", Time),
                ("quarantine_reason", Text),
                ("trust_score", Real),
                ("trust_calculation_date", Time),
                ("success_factors", Text),
                ("success_factors_updated_at", Time),
                ("active", Flag(true)),
                ("content_hash", Text),
                ("instrument_name", Text),
            ],
            CopyTable::Applications => &[
                ("id", RequiredText),
                ("pattern_id", Text),
                ("execution_id", Text),
                ("applied_at", Time),
                ("pattern_led_to_success", OptionalFlag),
                ("retry_count_before", Integer),
                ("retry_count_after", Integer),
                ("grounding_confidence", Real),
            ],
        }
    }
}

/// How a column's value is read from the source, as the SQLite backend's
/// readers read it. A `Required…` column that cannot be read leaves the whole
/// row out, as those readers do; any other unreadable value is carried as
/// absent (NULL), which reads the same on the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Text (numbers in their decimal form, blobs as UTF-8); None: NULL.
    Text,
    /// Text that must be there.
    RequiredText,
    /// Text exactly as stored (a page key): anything else leaves the row out.
    ExactText,
    /// A time: the stored text when it reads as a time, else NULL.
    Time,
    /// A time column that is NOT NULL on the target: "" (no time) instead of NULL.
    RequiredTime,
    /// A number; NULL for anything that is not one.
    Real,
    RequiredReal,
    /// A whole number; NULL for anything that is not one.
    Integer,
    RequiredInteger,
    /// A count with the default 0.
    Count,
    /// A flag (0 or 1) with this default for NULL.
    Flag(bool),
    /// A flag, NULL kept.
    OptionalFlag,
    /// A JSON list of strings, written in the original's spelling; empty
    /// for NULL and for a value that is not one.
    List,
}

/// One value of a copied row, typed as the target column is.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Text(Option<String>),
    Real(Option<f64>),
    Integer(Option<i64>),
    Bool(Option<bool>),
}

/// Rows read from the source after a rowid, in rowid order.
#[derive(Debug, Default)]
pub struct SourceBatch {
    /// The rows that can be represented, each with one value per column.
    pub rows: Vec<Vec<Value>>,
    /// Rows left out because a required value cannot be read.
    pub left_out: u64,
    /// `(record id, explanation)` of the rows that have one (see
    /// [`CopyTable::explanations`]).
    pub explanations: Vec<(String, String)>,
    /// The last rowid read (None: nothing after the given one).
    pub last_rowid: Option<i64>,
}

/// What a migration copies besides the tables' rows; at the end the target
/// must hold as many of each as the file's readable rows have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra {
    /// The explanations of a table's records ([`CopyTable::explanations`]).
    Explanations(CopyTable),
    /// Snapshots with a perplexity or an inverse Simpson.
    SnapshotDiversity,
}

impl Extra {
    pub const ALL: [Extra; 3] = [
        Extra::Explanations(CopyTable::Budget),
        Extra::Explanations(CopyTable::Responses),
        Extra::SnapshotDiversity,
    ];

    /// The table whose rows carry it.
    pub fn table(self) -> CopyTable {
        match self {
            Extra::Explanations(table) => table,
            Extra::SnapshotDiversity => CopyTable::Snapshots,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Extra::Explanations(table) => table.explanations().unwrap_or("explanations"),
            Extra::SnapshotDiversity => "pattern_entropy_history (perplexity, inverse_simpson)",
        }
    }

    /// Whether a row of snapshots (its values) has a perplexity or an
    /// inverse Simpson.
    pub fn has_diversity(values: &[Value]) -> bool {
        CopyTable::Snapshots
            .columns()
            .iter()
            .zip(values)
            .any(|((name, _), value)| {
                matches!(*name, "perplexity" | "inverse_simpson") && *value != Value::Real(None)
            })
    }
}

/// How far a migration has come on one table (kept in the target, in the
/// transaction of each batch, so a killed run resumes after its last commit).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyProgress {
    pub last_rowid: i64,
    /// Rows inserted by this migration (by every run of it).
    pub copied: i64,
    /// Rows left out as unreadable.
    pub left_out: i64,
    /// Rows whose id the target already had.
    pub already_there: i64,
}
