//! The schema of the original learning store (version 15), created in a new
//! file and checked in an existing one. Files the service cannot keep valid
//! for the original (not SQLite, another schema version) are refused before
//! anything is written to them.

use std::{io::Read, path::Path};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::store::{StoreError, StoreResult};

pub const SCHEMA_VERSION: i64 = 15;

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

const ORIGINAL_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS exploration_budget (
    id TEXT PRIMARY KEY,
    job_hash TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    budget_value REAL NOT NULL,
    entropy_at_time REAL,
    adjustment_type TEXT NOT NULL,
    adjustment_reason TEXT
);
CREATE INDEX IF NOT EXISTS idx_budget_job ON exploration_budget(job_hash);
CREATE INDEX IF NOT EXISTS idx_budget_recorded ON exploration_budget(recorded_at);
CREATE TABLE IF NOT EXISTS entropy_responses (
    id TEXT PRIMARY KEY,
    job_hash TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    entropy_at_trigger REAL NOT NULL,
    threshold_used REAL NOT NULL,
    actions_taken TEXT NOT NULL,
    budget_boosted INTEGER DEFAULT 0,
    quarantine_revisits INTEGER DEFAULT 0,
    patterns_revisited TEXT
);
CREATE INDEX IF NOT EXISTS idx_entropy_response_job ON entropy_responses(job_hash);
CREATE INDEX IF NOT EXISTS idx_entropy_response_recorded ON entropy_responses(recorded_at);
CREATE TABLE IF NOT EXISTS pattern_entropy_history (
    id TEXT PRIMARY KEY,
    calculated_at TIMESTAMP NOT NULL,
    shannon_entropy REAL NOT NULL,
    max_possible_entropy REAL NOT NULL,
    diversity_index REAL NOT NULL,
    unique_pattern_count INTEGER NOT NULL,
    effective_pattern_count INTEGER NOT NULL,
    total_applications INTEGER NOT NULL,
    dominant_pattern_share REAL NOT NULL,
    threshold_exceeded INTEGER DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_entropy_history_calculated
    ON pattern_entropy_history(calculated_at DESC);
CREATE TABLE IF NOT EXISTS patterns (
    id TEXT PRIMARY KEY,
    pattern_type TEXT NOT NULL,
    pattern_name TEXT NOT NULL,
    description TEXT,
    occurrence_count INTEGER DEFAULT 1,
    first_seen TIMESTAMP,
    last_seen TIMESTAMP,
    last_confirmed TIMESTAMP,
    led_to_success_count INTEGER DEFAULT 0,
    led_to_failure_count INTEGER DEFAULT 0,
    effectiveness_score REAL DEFAULT 0.5,
    variance REAL DEFAULT 0.0,
    suggested_action TEXT,
    context_tags TEXT,
    priority_score REAL DEFAULT 0.5,
    quarantine_status TEXT DEFAULT 'pending',
    provenance_job_hash TEXT,
    provenance_sheet_num INTEGER,
    quarantined_at TIMESTAMP,
    validated_at TIMESTAMP,
    quarantine_reason TEXT,
    trust_score REAL DEFAULT 0.5,
    trust_calculation_date TIMESTAMP,
    success_factors TEXT,
    success_factors_updated_at TIMESTAMP,
    active INTEGER DEFAULT 1,
    content_hash TEXT,
    instrument_name TEXT
);
CREATE INDEX IF NOT EXISTS idx_patterns_type ON patterns(pattern_type);
CREATE INDEX IF NOT EXISTS idx_patterns_priority ON patterns(priority_score DESC);
CREATE INDEX IF NOT EXISTS idx_patterns_confirmed ON patterns(last_confirmed);
CREATE INDEX IF NOT EXISTS idx_patterns_quarantine ON patterns(quarantine_status);
CREATE INDEX IF NOT EXISTS idx_patterns_trust ON patterns(trust_score);
CREATE INDEX IF NOT EXISTS idx_patterns_content_hash ON patterns(content_hash);
CREATE INDEX IF NOT EXISTS idx_patterns_instrument ON patterns(instrument_name);
CREATE TABLE IF NOT EXISTS pattern_applications (
    id TEXT PRIMARY KEY,
    pattern_id TEXT,
    execution_id TEXT,
    applied_at TIMESTAMP,
    pattern_led_to_success BOOLEAN,
    retry_count_before INTEGER,
    retry_count_after INTEGER,
    grounding_confidence REAL
);
CREATE INDEX IF NOT EXISTS idx_app_pattern ON pattern_applications(pattern_id);
CREATE INDEX IF NOT EXISTS idx_app_execution ON pattern_applications(execution_id);
"#;

fn not_sqlite(path: &str) -> StoreError {
    StoreError::Refused(format!("{path} is not a SQLite database (left untouched)"))
}

/// Refuses, without writing anything, a file this service must not open:
/// not SQLite, or a schema version other than the one it keeps.
pub fn check_existing_file(path: &Path) -> StoreResult<()> {
    let display = path.display().to_string();
    let mut header = [0u8; 16];
    let length = match std::fs::File::open(path) {
        Ok(mut file) => {
            let length = file.metadata().map(|m| m.len()).unwrap_or(0);
            if length > 0 && (length < 16 || file.read_exact(&mut header).is_err()) {
                return Err(not_sqlite(&display));
            }
            length
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(StoreError::Refused(format!(
                "cannot read {display}: {error}"
            )));
        }
    };
    if length == 0 {
        return Ok(());
    }
    if &header != SQLITE_HEADER {
        return Err(not_sqlite(&display));
    }
    let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    match stored_version(&connection)? {
        None => Ok(()),
        Some(found) if found > SCHEMA_VERSION => Err(StoreError::Refused(format!(
            "{display} has schema version {found}, newer than the {SCHEMA_VERSION} this service \
             supports (left untouched)"
        ))),
        Some(found) if found < SCHEMA_VERSION => Err(StoreError::Refused(format!(
            "{display} has schema version {found}, older than {SCHEMA_VERSION}; open it once with \
             the original learning store to migrate it (left untouched)"
        ))),
        Some(_) => Ok(()),
    }
}

fn stored_version(connection: &Connection) -> StoreResult<Option<i64>> {
    let has_table: bool = connection.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version')",
        [],
        |row| row.get(0),
    )?;
    if !has_table {
        return Ok(None);
    }
    Ok(connection
        .query_row("SELECT MAX(version) FROM schema_version", [], |row| {
            row.get::<_, Option<i64>>(0)
        })
        .optional()?
        .flatten())
}

/// Creates what is missing (the original's tables in a new file, and the
/// service's own `ls_` tables and triggers) and records the version, in one
/// transaction.
pub fn ensure(connection: &mut Connection) -> StoreResult<()> {
    let transaction =
        connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    transaction.execute_batch(ORIGINAL_SCHEMA)?;
    transaction.execute_batch(super::idempotency::SCHEMA)?;
    super::explanations::ensure(&transaction)?;
    if stored_version(&transaction)?.is_none() {
        transaction.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [SCHEMA_VERSION],
        )?;
    }
    super::aggregates::ensure(&transaction)?;
    super::diversity::ensure(&transaction)?;
    super::history_versions::ensure(&transaction)?;
    super::probe::ensure_row(&transaction)?;
    transaction.commit()?;
    Ok(())
}
