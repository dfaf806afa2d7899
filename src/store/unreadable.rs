//! Counts of stored values a backend could not read (rows written by other
//! programs): rows left out of a read, and values read as absent. Process-wide
//! counters per table, kept here so that a metrics exporter can forward them
//! later (`learning_store_rows_skipped_total{table}` and
//! `learning_store_values_unreadable_total{table}`).

use std::sync::atomic::{AtomicU64, Ordering};

/// The tables counted apart; any other name counts under `other`.
const TABLES: [&str; 4] = [
    "exploration_budget",
    "entropy_responses",
    "pattern_entropy_history",
    "patterns",
];

struct PerTable([AtomicU64; TABLES.len() + 1]);

impl PerTable {
    const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; TABLES.len() + 1])
    }

    fn slot(&self, table: &str) -> &AtomicU64 {
        let index = TABLES
            .iter()
            .position(|t| *t == table)
            .unwrap_or(TABLES.len());
        &self.0[index]
    }
}

static ROWS_SKIPPED: PerTable = PerTable::new();
static VALUES_UNREADABLE: PerTable = PerTable::new();

/// A row of `table` was left out of a read because it could not be read.
pub fn count_row_skipped(table: &str) {
    ROWS_SKIPPED.slot(table).fetch_add(1, Ordering::Relaxed);
}

/// A value of a row of `table` was read as absent (or lossily); the row was served.
pub fn count_value_unreadable(table: &str) {
    VALUES_UNREADABLE
        .slot(table)
        .fetch_add(1, Ordering::Relaxed);
}

/// Rows of `table` left out of reads since the process started (every read
/// that met such a row counts it once).
pub fn rows_skipped(table: &str) -> u64 {
    ROWS_SKIPPED.slot(table).load(Ordering::Relaxed)
}

/// Values of rows of `table` read as absent since the process started.
pub fn values_unreadable(table: &str) -> u64 {
    VALUES_UNREADABLE.slot(table).load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_table() {
        let before = (rows_skipped("patterns"), rows_skipped("nonsense"));
        count_row_skipped("patterns");
        count_row_skipped("nonsense");
        count_row_skipped("other table");
        assert_eq!(rows_skipped("patterns"), before.0 + 1);
        assert!(rows_skipped("nonsense") >= before.1 + 2);
        let values = values_unreadable("exploration_budget");
        count_value_unreadable("exploration_budget");
        assert_eq!(values_unreadable("exploration_budget"), values + 1);
    }
}
