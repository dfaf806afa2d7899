//! Diversity of a window and/or a scope: applications per pattern per
//! minute and per hour (`ls_application_minutes`, `ls_application_hours`),
//! counted in the transaction of each application, so a windowed reading
//! sums at most [`MAX_BUCKETS`](crate::domain::diversity::MAX_BUCKETS) rows
//! per pattern.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::{patterns, sql, tx::TxResult};
use crate::domain::{
    diversity::{DiversityQuery, PatternScope, WindowBuckets, minute_of},
    entropy::PopulationEntropy,
};
use crate::store::time;

const COUNT_MINUTE: &str = "INSERT INTO ls_application_minutes (pattern_id, minute, n) \
     VALUES ($1, $2, $3) ON CONFLICT (pattern_id, minute) \
     DO UPDATE SET n = ls_application_minutes.n + excluded.n";
const COUNT_HOUR: &str = "INSERT INTO ls_application_hours (pattern_id, hour, n) \
     VALUES ($1, $2, $3) ON CONFLICT (pattern_id, hour) \
     DO UPDATE SET n = ls_application_hours.n + excluded.n";

/// Counts `n` applications of `pattern_id` at `minute`.
async fn count(c: &impl GenericClient, pattern_id: &str, minute: i64, n: i64) -> TxResult<()> {
    sql::execute(c, COUNT_MINUTE, &[&pattern_id, &minute, &n]).await?;
    sql::execute(c, COUNT_HOUR, &[&pattern_id, &minute.div_euclid(60), &n]).await?;
    Ok(())
}

/// Counts one application recorded at `at`, in its transaction.
pub async fn count_application(
    c: &impl GenericClient,
    pattern_id: &str,
    at: DateTime<Utc>,
) -> TxResult<()> {
    count(c, pattern_id, minute_of(at), 1).await
}

/// Fills the buckets from the applications already there (once, by the
/// migration that creates them). Their times are the original's local text,
/// read as the service reads every time; unreadable ones are left out.
pub async fn backfill(c: &impl GenericClient) -> TxResult<()> {
    let rows = sql::query(
        c,
        "SELECT pattern_id, applied_at FROM pattern_applications \
         WHERE pattern_id IS NOT NULL AND applied_at IS NOT NULL",
        &[],
    )
    .await?;
    let mut buckets: HashMap<(String, i64), i64> = HashMap::new();
    for row in rows {
        let pattern_id: String = row.try_get(0)?;
        let applied_at: String = row.try_get(1)?;
        if let Some(at) = time::parse(&applied_at) {
            *buckets.entry((pattern_id, minute_of(at))).or_default() += 1;
        }
    }
    for ((pattern_id, minute), n) in buckets {
        count(c, &pattern_id, minute, n).await?;
    }
    Ok(())
}

/// The condition of a scope on `patterns p`, bound as parameters `$first`
/// (type) and `$first + 1` (instrument): NULL means any.
pub fn scope_condition(first: usize) -> String {
    let second = first + 1;
    format!(
        "(${first}::TEXT IS NULL OR p.pattern_type = ${first}::TEXT) \
         AND (${second}::TEXT IS NULL OR p.instrument_name = ${second}::TEXT)"
    )
}

pub fn scope_params(scope: &PatternScope) -> (Option<&str>, Option<&str>) {
    (
        scope.pattern_type.as_deref(),
        scope.instrument_name.as_deref(),
    )
}

/// The entropy of `query`'s patterns over its window, in id order as the
/// all-time reading.
pub async fn entropy(
    c: &impl GenericClient,
    query: &DiversityQuery,
) -> TxResult<PopulationEntropy> {
    if query.is_all_time_population() {
        return patterns::population_entropy(c).await;
    }
    let (pattern_type, instrument) = scope_params(&query.scope);
    let scope = scope_condition(1);
    let rows = match query.window {
        None => {
            let text =
                format!("SELECT application_count FROM patterns p WHERE {scope} ORDER BY p.id");
            sql::query(c, &text, &[&pattern_type, &instrument]).await?
        }
        Some(window) => {
            let b = WindowBuckets::ending_at(Utc::now(), window);
            let text = format!(
                "SELECT CAST(coalesce((SELECT SUM(m.n) FROM ls_application_minutes m \
                 WHERE m.pattern_id = p.id AND m.minute >= $3 AND m.minute < $4), 0) \
                 + coalesce((SELECT SUM(h.n) FROM ls_application_hours h \
                 WHERE h.pattern_id = p.id AND h.hour >= $5), 0) AS BIGINT) \
                 FROM patterns p WHERE {scope} ORDER BY p.id"
            );
            let first_hour_minute = b.first_hour * 60;
            sql::query(
                c,
                &text,
                &[
                    &pattern_type,
                    &instrument,
                    &b.first_minute,
                    &first_hour_minute,
                    &b.first_hour,
                ],
            )
            .await?
        }
    };
    let counts = rows
        .iter()
        .map(|row| row.try_get::<_, i64>(0))
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(PopulationEntropy::from_counts(counts))
}
