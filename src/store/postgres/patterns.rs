//! `patterns` and `pattern_applications`: the population entropy is computed
//! from, and the quarantine an entropy response revisits. Each pattern's
//! `application_count` is kept in the transaction of each application.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{
    diversity, sql,
    sql::{PATTERNS, new_id, time_of},
    tx::TxResult,
};
use crate::domain::{
    diversity::PatternScope,
    entropy::PopulationEntropy,
    records::{NewPattern, PatternRecord, QuarantineStatus},
};
use crate::store::{Page, PageKey, StoreError, time};

const REVISIT_REASON: &str = "Entropy response: revisiting for revalidation";

const SELECT: &str = "SELECT pos, id, pattern_type, pattern_name, description, \
     quarantine_status, quarantine_reason, application_count, led_to_success_count, \
     led_to_failure_count, first_seen, last_seen, quarantined_at, validated_at, active, \
     instrument_name FROM patterns";

fn from_row(row: &Row) -> TxResult<(i64, PatternRecord)> {
    Ok((
        row.try_get(0)?,
        PatternRecord {
            id: row.try_get(1)?,
            pattern_type: row.try_get(2)?,
            pattern_name: row.try_get(3)?,
            description: row.try_get(4)?,
            quarantine_status: row.try_get(5)?,
            quarantine_reason: row.try_get(6)?,
            application_count: row.try_get(7)?,
            led_to_success_count: row.try_get::<_, Option<i64>>(8)?.unwrap_or(0),
            led_to_failure_count: row.try_get::<_, Option<i64>>(9)?.unwrap_or(0),
            first_seen: time_of(row.try_get(10)?),
            last_seen: time_of(row.try_get(11)?),
            quarantined_at: time_of(row.try_get(12)?),
            validated_at: time_of(row.try_get(13)?),
            active: row.try_get::<_, Option<i64>>(14)?.unwrap_or(1) != 0,
            instrument_name: row.try_get(15)?,
        },
    ))
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound {
        what: "pattern",
        id: id.to_owned(),
    }
}

async fn pattern(c: &impl GenericClient, id: &str) -> TxResult<PatternRecord> {
    let row = sql::query_opt(c, &format!("{SELECT} WHERE id = $1"), &[&id]).await?;
    let row = row.ok_or_else(|| not_found(id))?;
    Ok(from_row(&row)?.1)
}

/// Entropy over the application count of every known pattern. O(patterns),
/// whatever the number of applications; in any order, since the running
/// sums are exact (see `domain::entropy_sums`), so it agrees bit for bit
/// with the SQLite backend's reading of the same counts.
pub async fn population_entropy(c: &impl GenericClient) -> TxResult<PopulationEntropy> {
    let rows = sql::query(c, "SELECT application_count FROM patterns", &[]).await?;
    let counts = rows
        .iter()
        .map(|row| row.try_get::<_, i64>(0))
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(PopulationEntropy::from_counts(counts))
}

/// Sends up to `limit` active quarantined patterns of `scope` back to
/// pending, most recently seen first (ties: oldest first). Returns the ids of
/// the patterns considered (selected, in order) and of those revisited.
pub async fn revisit_quarantined(
    c: &impl GenericClient,
    limit: i64,
    scope: &PatternScope,
) -> TxResult<(Vec<String>, Vec<String>)> {
    let (pattern_type, instrument) = diversity::scope_params(scope);
    let text = format!(
        "SELECT id FROM patterns p \
         WHERE lower(quarantine_status) = 'quarantined' AND coalesce(active, 1) != 0 AND {} \
         ORDER BY last_seen IS NULL, last_seen DESC, pos ASC LIMIT $1",
        diversity::scope_condition(2)
    );
    let candidates = sql::query(c, &text, &[&limit, &pattern_type, &instrument]).await?;
    let mut considered = Vec::with_capacity(candidates.len());
    let mut revisited = Vec::with_capacity(candidates.len());
    for row in candidates {
        let id: String = row.try_get(0)?;
        considered.push(id.clone());
        let updated = sql::execute(
            c,
            "UPDATE patterns SET quarantine_status = 'pending', quarantine_reason = $2 \
             WHERE id = $1 AND lower(quarantine_status) = 'quarantined'",
            &[&id, &REVISIT_REASON],
        )
        .await?;
        if updated == 1 {
            revisited.push(id);
        }
    }
    Ok((considered, revisited))
}

pub async fn record_pattern(c: &impl GenericClient, new: &NewPattern) -> TxResult<PatternRecord> {
    let position = sql::next_position(c, PATTERNS).await?;
    let id = new_id();
    let now = time::now_text();
    let status = new.quarantine_status;
    let quarantined_at = (status == QuarantineStatus::Quarantined).then_some(&now);
    let validated_at = (status == QuarantineStatus::Validated).then_some(&now);
    sql::execute(
        c,
        "INSERT INTO patterns (pos, id, pattern_type, pattern_name, description, first_seen, \
         last_seen, quarantine_status, quarantined_at, validated_at, active, occurrence_count, \
         led_to_success_count, led_to_failure_count, effectiveness_score, variance, \
         priority_score, trust_score, application_count, instrument_name) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, 1, 1, 0, 0, 0.5, 0.0, 0.5, 0.5, 0, $10)",
        &[
            &position,
            &id,
            &new.pattern_type,
            &new.pattern_name,
            &new.description,
            &now,
            &status.as_str(),
            &quarantined_at,
            &validated_at,
            &new.instrument_name,
        ],
    )
    .await?;
    pattern(c, &id).await
}

/// Records one application of a known pattern; returns the application id
/// and the pattern's application count. The UPDATE locks the pattern's row,
/// so concurrent applications on any replica count exactly.
pub async fn record_application(
    c: &impl GenericClient,
    pattern_id: &str,
    execution_id: &str,
    led_to_success: bool,
) -> TxResult<(String, i64)> {
    let counter = if led_to_success {
        "led_to_success_count"
    } else {
        "led_to_failure_count"
    };
    let row = sql::query_opt(
        c,
        &format!(
            "UPDATE patterns SET {counter} = coalesce({counter}, 0) + 1, \
             application_count = application_count + 1 WHERE id = $1 RETURNING application_count"
        ),
        &[&pattern_id],
    )
    .await?;
    let count: i64 = row.ok_or_else(|| not_found(pattern_id))?.try_get(0)?;
    let id = new_id();
    let now = chrono::Utc::now();
    sql::execute(
        c,
        "INSERT INTO pattern_applications (id, pattern_id, execution_id, applied_at, \
         pattern_led_to_success) VALUES ($1, $2, $3, $4, $5)",
        &[
            &id,
            &pattern_id,
            &execution_id,
            &time::to_text(now),
            &led_to_success,
        ],
    )
    .await?;
    diversity::count_application(c, pattern_id, now).await?;
    Ok((id, count))
}

pub async fn set_quarantine_status(
    c: &impl GenericClient,
    pattern_id: &str,
    status: QuarantineStatus,
    reason: Option<&str>,
) -> TxResult<PatternRecord> {
    let now = time::now_text();
    let status = status.as_str();
    let updated = sql::execute(
        c,
        "UPDATE patterns SET quarantine_status = $2, quarantine_reason = $3, \
         quarantined_at = CASE WHEN $2 = 'quarantined' THEN $4 ELSE quarantined_at END, \
         validated_at = CASE WHEN $2 = 'validated' THEN $4 ELSE validated_at END \
         WHERE id = $1",
        &[&pattern_id, &status, &reason, &now],
    )
    .await?;
    if updated == 0 {
        return Err(not_found(pattern_id).into());
    }
    pattern(c, pattern_id).await
}

/// Oldest first, `limit` per page, optionally only one status.
pub async fn list(
    c: &impl GenericClient,
    status: Option<QuarantineStatus>,
    limit: usize,
    after: Option<i64>,
) -> TxResult<Page<PatternRecord>> {
    let after = after.unwrap_or(i64::MIN);
    let fetch = limit as i64 + 1;
    let rows = match status {
        Some(status) => {
            let text = format!(
                "{SELECT} WHERE lower(coalesce(quarantine_status, 'pending')) = $1 \
                 AND pos > $2 ORDER BY pos LIMIT $3"
            );
            sql::query(c, &text, &[&status.as_str(), &after, &fetch]).await?
        }
        None => {
            let text = format!("{SELECT} WHERE pos > $1 ORDER BY pos LIMIT $2");
            sql::query(c, &text, &[&after, &fetch]).await?
        }
    };
    let keyed = rows
        .iter()
        .map(|row| from_row(row).map(|(pos, record)| (PageKey::After(pos), record)))
        .collect::<TxResult<Vec<_>>>()?;
    Ok(Page::from_rows(keyed, limit))
}
