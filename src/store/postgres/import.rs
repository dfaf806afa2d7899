//! The target side of `learning-service migrate`: batches of rows from a
//! SQLite store written into this backend's tables.
//!
//! - **Resumable.** Each batch is one transaction that also moves the
//!   table's row of `ls_migration_progress` past the batch's last source
//!   rowid; a run that is killed resumes after its last committed batch.
//! - **Idempotent.** Rows are inserted with `ON CONFLICT (id) DO NOTHING`, and
//!   a batch is only taken after the last committed one: a second run copies
//!   nothing twice.
//! - **Order.** A batch takes its stream positions from the table's counter
//!   (as every write does, see the module documentation of the backend), in
//!   source rowid order: the copied history streams and lists in its original
//!   order, and positions keep following commit order.
//! - **Counters.** The statistics, each pattern's application count and the
//!   application buckets of windowed diversity are recounted from the copied
//!   rows at the end ([`Import::rebuild`]), in position order, with the write
//!   path's arithmetic (the buckets by the schema's own backfill).
//! - **Besides the rows.** The explanations of budget records and responses
//!   go in the transaction of their records' batch; a snapshot's perplexity
//!   and inverse Simpson are columns of its row here.

use std::collections::BTreeMap;

use bytes::BytesMut;
use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::types::{IsNull, ToSql, Type};

use super::{
    PostgresOptions, PostgresUrl, connect_pool, diversity, sql,
    sql::{BUDGET, RESPONSES},
    stats::{BudgetTotals, ResponseTotals},
    tx::{TxResult, into_store_error, with_retry},
};
use crate::store::{
    StoreError, StoreResult,
    copy::{CopyProgress, CopyTable, Extra, SourceBatch, Value},
};

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.to_sql_checked(ty, out)
    }

    /// Checked per value, in [`ToSql::to_sql_checked`].
    fn accepts(_: &Type) -> bool {
        true
    }

    fn to_sql_checked(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Text(v) => v.to_sql_checked(ty, out),
            Value::Real(v) => v.to_sql_checked(ty, out),
            Value::Integer(v) => v.to_sql_checked(ty, out),
            Value::Bool(v) => v.to_sql_checked(ty, out),
        }
    }
}

/// Rows per statement of the rebuild's reads and writes.
const REBUILD_BATCH: usize = 500;

/// The largest batch of copied rows: one statement binds every value, and
/// the protocol allows 65,535 parameters (patterns have 30 columns).
pub const MAX_BATCH: usize = 2000;

/// `INSERT INTO table (columns) VALUES (...), ... suffix`: one statement for
/// all `rows`, each with one value per column. Returns the rows inserted.
async fn insert_rows(
    c: &impl GenericClient,
    table: &str,
    columns: &[&str],
    rows: &[Vec<&(dyn ToSql + Sync)>],
    suffix: &str,
) -> TxResult<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut text = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let mut number = 0;
    for (index, row) in rows.iter().enumerate() {
        text.push_str(if index == 0 { "(" } else { ", (" });
        for column in 0..row.len() {
            number += 1;
            let separator = if column == 0 { "" } else { ", " };
            text.push_str(&format!("{separator}${number}"));
        }
        text.push(')');
    }
    text.push_str(suffix);
    let params: Vec<&(dyn ToSql + Sync)> = rows.iter().flatten().copied().collect();
    sql::execute(c, &text, &params).await
}

const PROGRESS_COLUMNS: &str = "source_table, source, last_rowid, copied, left_out, already_there";

fn not_empty(table: &str) -> StoreError {
    StoreError::Refused(format!(
        "the database already holds records ({table}) that no migration copied; migrate into \
         a new database"
    ))
}

/// A migration into one PostgreSQL database.
pub struct Import {
    pool: Pool,
}

impl Import {
    /// Connects and applies this backend's schema, as a replica's start does.
    pub async fn connect(url: &PostgresUrl, options: &PostgresOptions) -> StoreResult<Self> {
        Ok(Self {
            pool: connect_pool(url, options).await?,
        })
    }

    /// Begins a migration from `source` (a database whose tables are empty),
    /// or resumes the one from `source` that began earlier. Another source,
    /// or records that no migration copied, are refused.
    pub async fn start(&self, source: &str) -> StoreResult<Vec<(CopyTable, CopyProgress)>> {
        with_retry(|| async move {
            let mut client = self.pool.get().await?;
            let t = client.transaction().await?;
            let rows = sql::query(
                &t,
                &format!("SELECT {PROGRESS_COLUMNS} FROM ls_migration_progress FOR UPDATE"),
                &[],
            )
            .await?;
            let mut found = BTreeMap::new();
            for row in &rows {
                let (table, from): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                if from != source {
                    return Err(StoreError::Refused(format!(
                        "the database holds a migration from {from}, not from {source}; migrate \
                         {source} into a new database"
                    ))
                    .into());
                }
                let progress = CopyProgress {
                    last_rowid: row.try_get(2)?,
                    copied: row.try_get(3)?,
                    left_out: row.try_get(4)?,
                    already_there: row.try_get(5)?,
                };
                found.insert(table, progress);
            }
            if found.is_empty() {
                for table in CopyTable::ALL {
                    let any = format!("SELECT id FROM {} LIMIT 1", table.name());
                    if sql::query_opt(&t, &any, &[]).await?.is_some() {
                        return Err(not_empty(table.name()).into());
                    }
                }
            }
            let mut progress = Vec::new();
            for table in CopyTable::ALL {
                let name = table.name();
                let known = found.get(name).cloned();
                let known = match known {
                    Some(known) => known,
                    None => {
                        let start = CopyProgress {
                            last_rowid: i64::MIN,
                            ..CopyProgress::default()
                        };
                        sql::execute(
                            &t,
                            &format!(
                                "INSERT INTO ls_migration_progress ({PROGRESS_COLUMNS}) \
                                 VALUES ($1, $2, $3, 0, 0, 0)"
                            ),
                            &[&name, &source, &start.last_rowid],
                        )
                        .await?;
                        start
                    }
                };
                progress.push((table, known));
            }
            t.commit().await?;
            Ok(progress)
        })
        .await
    }

    /// Writes `batch` (the rows after `progress.last_rowid`) and moves the
    /// progress past it, in one transaction. Returns the new progress.
    pub async fn copy_batch(
        &self,
        table: CopyTable,
        progress: &CopyProgress,
        batch: &SourceBatch,
    ) -> StoreResult<CopyProgress> {
        let Some(last_rowid) = batch.last_rowid else {
            return Ok(progress.clone());
        };
        with_retry(|| async move {
            let mut client = self.pool.get().await?;
            let t = client.transaction().await?;
            let name = table.name();
            let row = sql::query_one(
                &t,
                "SELECT last_rowid FROM ls_migration_progress WHERE source_table = $1 FOR UPDATE",
                &[&name],
            )
            .await?;
            if row.try_get::<_, i64>(0)? != progress.last_rowid {
                return Err(StoreError::Refused(
                    "another migration into this database is running; let it finish".into(),
                )
                .into());
            }
            let inserted = insert_batch(&t, table, &batch.rows).await? as i64;
            insert_explanations(&t, table, &batch.explanations).await?;
            let already_there = batch.rows.len() as i64 - inserted;
            sql::execute(
                &t,
                "UPDATE ls_migration_progress SET last_rowid = $2, copied = copied + $3, \
                 left_out = left_out + $4, already_there = already_there + $5 \
                 WHERE source_table = $1",
                &[
                    &name,
                    &last_rowid,
                    &inserted,
                    &(batch.left_out as i64),
                    &already_there,
                ],
            )
            .await?;
            t.commit().await?;
            Ok(CopyProgress {
                last_rowid,
                copied: progress.copied + inserted,
                left_out: progress.left_out + batch.left_out as i64,
                already_there: progress.already_there + already_there,
            })
        })
        .await
    }

    /// Recounts the statistics of the budget and the responses, each
    /// pattern's application count and the application buckets, from the
    /// rows, in one transaction that holds the counters writers take (a
    /// write waits for it).
    pub async fn rebuild(&self) -> StoreResult<()> {
        with_retry(|| async move {
            let mut client = self.pool.get().await?;
            let t = client.transaction().await?;
            sql::lock(&t, BUDGET).await?;
            sql::lock(&t, RESPONSES).await?;
            sql::execute(
                &t,
                "UPDATE patterns SET application_count = (SELECT COUNT(*) \
                 FROM pattern_applications a WHERE a.pattern_id = patterns.id)",
                &[],
            )
            .await?;
            rebuild_budget_stats(&t).await?;
            rebuild_response_stats(&t).await?;
            sql::execute(&t, "DELETE FROM ls_application_minutes", &[]).await?;
            sql::execute(&t, "DELETE FROM ls_application_hours", &[]).await?;
            diversity::backfill(&t).await?;
            t.commit().await?;
            Ok(())
        })
        .await
    }

    /// The rows of each table.
    pub async fn row_counts(&self) -> StoreResult<Vec<(CopyTable, i64)>> {
        let queries =
            CopyTable::ALL.map(|table| (table, format!("SELECT COUNT(*) FROM {}", table.name())));
        self.counts(queries).await
    }

    /// How many of each [`Extra`] the database holds.
    pub async fn extra_counts(&self) -> StoreResult<Vec<(Extra, i64)>> {
        let queries = Extra::ALL.map(|extra| {
            let text = match extra {
                // Its name is its table's.
                Extra::Explanations(_) => format!("SELECT COUNT(*) FROM {}", extra.name()),
                Extra::SnapshotDiversity => "SELECT COUNT(*) FROM pattern_entropy_history \
                     WHERE perplexity IS NOT NULL OR inverse_simpson IS NOT NULL"
                    .to_owned(),
            };
            (extra, text)
        });
        self.counts(queries).await
    }

    /// The count each `SELECT COUNT(*)` of `queries` finds, by its key.
    async fn counts<K>(
        &self,
        queries: impl IntoIterator<Item = (K, String)>,
    ) -> StoreResult<Vec<(K, i64)>> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| into_store_error(e.into()))?;
        let mut counts = Vec::new();
        for (key, text) in queries {
            let row = client.query_one(&text, &[]).await?;
            counts.push((key, row.try_get(0)?));
        }
        Ok(counts)
    }
}

/// Inserts the explanations of a batch's records of `table` (those it has
/// not yet: a run that resumes may send one again).
async fn insert_explanations(
    c: &impl GenericClient,
    table: CopyTable,
    explanations: &[(String, String)],
) -> TxResult<()> {
    let Some(explanation_table) = table.explanations() else {
        return Ok(());
    };
    let bound: Vec<Vec<&(dyn ToSql + Sync)>> = explanations
        .iter()
        .map(|(id, text)| vec![id as &(dyn ToSql + Sync), text as &(dyn ToSql + Sync)])
        .collect();
    insert_rows(
        c,
        explanation_table,
        &["record_id", "explanation"],
        &bound,
        " ON CONFLICT (record_id) DO NOTHING",
    )
    .await?;
    Ok(())
}

/// Inserts `rows` of `table` with the positions they take from its counter
/// (and a zero application count for patterns, recounted by the rebuild).
async fn insert_batch(
    c: &impl GenericClient,
    table: CopyTable,
    rows: &[Vec<Value>],
) -> TxResult<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut columns: Vec<&str> = table.columns().iter().map(|(name, _)| *name).collect();
    let positions: Vec<Value> = if table.has_position() {
        let row = sql::query_one(
            c,
            "UPDATE ls_counters SET value = value + $2 WHERE name = $1 RETURNING value",
            &[&table.name(), &(rows.len() as i64)],
        )
        .await?;
        let last: i64 = row.try_get(0)?;
        let first = last - rows.len() as i64 + 1;
        columns.insert(0, "pos");
        (first..=last)
            .map(|pos| Value::Integer(Some(pos)))
            .collect()
    } else {
        Vec::new()
    };
    let zero = Value::Integer(Some(0));
    let patterns = table == CopyTable::Patterns;
    if patterns {
        columns.push("application_count");
    }
    let bound: Vec<Vec<&(dyn ToSql + Sync)>> = rows
        .iter()
        .enumerate()
        .map(|(index, values)| {
            let mut row: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(values.len() + 2);
            if let Some(pos) = positions.get(index) {
                row.push(pos);
            }
            row.extend(values.iter().map(|v| v as &(dyn ToSql + Sync)));
            if patterns {
                row.push(&zero);
            }
            row
        })
        .collect();
    insert_rows(
        c,
        table.name(),
        &columns,
        &bound,
        " ON CONFLICT (id) DO NOTHING",
    )
    .await
}

/// Rows of `select` (`SELECT pos, ... FROM table`) in position order, a page
/// at a time (keyset pages: portable, unlike a held cursor).
async fn each_row(
    c: &impl GenericClient,
    select: &str,
    mut each: impl FnMut(&tokio_postgres::Row) -> TxResult<()>,
) -> TxResult<()> {
    let text = format!("{select} WHERE pos > $1 ORDER BY pos LIMIT $2");
    let mut after = i64::MIN;
    loop {
        let rows = sql::query(c, &text, &[&after, &(REBUILD_BATCH as i64)]).await?;
        for row in &rows {
            after = row.try_get(0)?;
            each(row)?;
        }
        if rows.len() < REBUILD_BATCH {
            return Ok(());
        }
    }
}

/// `(all_jobs, job_hash)` of every row: the jobs', then every job's.
fn stats_rows<T>(
    jobs: BTreeMap<String, T>,
    all: T,
    n: impl Fn(&T) -> i64,
) -> Vec<(i64, String, T)> {
    let mut rows: Vec<(i64, String, T)> = jobs.into_iter().map(|(job, t)| (0, job, t)).collect();
    if n(&all) > 0 {
        rows.push((1, String::new(), all));
    }
    rows
}

async fn rebuild_budget_stats(c: &impl GenericClient) -> TxResult<()> {
    let mut jobs: BTreeMap<String, BudgetTotals> = BTreeMap::new();
    let mut all = BudgetTotals::default();
    each_row(
        c,
        "SELECT pos, job_hash, budget_value, adjustment_type FROM exploration_budget",
        |row| {
            let (job, value, kind): (String, f64, String) =
                (row.try_get(1)?, row.try_get(2)?, row.try_get(3)?);
            jobs.entry(job).or_default().add(value, &kind);
            all.add(value, &kind);
            Ok(())
        },
    )
    .await?;
    sql::execute(c, "DELETE FROM ls_budget_stats", &[]).await?;
    let values: Vec<Vec<Value>> = stats_rows(jobs, all, |t| t.n)
        .into_iter()
        .map(|(all_jobs, job, t)| {
            let mut row = vec![
                Value::Integer(Some(all_jobs)),
                Value::Text(Some(job)),
                Value::Integer(Some(t.n)),
                Value::Real(Some(t.sum)),
                Value::Real(Some(t.err)),
                Value::Real(Some(t.min)),
                Value::Real(Some(t.max)),
            ];
            row.extend(t.types.iter().map(|n| Value::Integer(Some(*n))));
            row
        })
        .collect();
    let mut columns = vec![
        "all_jobs",
        "job_hash",
        "n",
        "value_sum",
        "value_err",
        "min_value",
        "max_value",
    ];
    columns.extend(super::stats::ADJUSTMENT_TYPES);
    insert_values(c, "ls_budget_stats", &columns, &values).await
}

async fn rebuild_response_stats(c: &impl GenericClient) -> TxResult<()> {
    let mut jobs: BTreeMap<String, ResponseTotals> = BTreeMap::new();
    let mut all = ResponseTotals::default();
    each_row(
        c,
        "SELECT pos, job_hash, entropy_at_trigger, budget_boosted, quarantine_revisits \
         FROM entropy_responses",
        |row| {
            let (job, entropy): (String, f64) = (row.try_get(1)?, row.try_get(2)?);
            let boosted = row.try_get::<_, Option<i64>>(3)?.unwrap_or(0) != 0;
            let revisits = row.try_get::<_, Option<i64>>(4)?.unwrap_or(0);
            jobs.entry(job).or_default().add(entropy, boosted, revisits);
            all.add(entropy, boosted, revisits);
            Ok(())
        },
    )
    .await?;
    sql::execute(c, "DELETE FROM ls_response_stats", &[]).await?;
    let values: Vec<Vec<Value>> = stats_rows(jobs, all, |t| t.n)
        .into_iter()
        .map(|(all_jobs, job, t)| {
            vec![
                Value::Integer(Some(all_jobs)),
                Value::Text(Some(job)),
                Value::Integer(Some(t.n)),
                Value::Real(Some(t.sum)),
                Value::Real(Some(t.err)),
                Value::Integer(Some(t.boosts)),
                Value::Integer(Some(t.revisits)),
            ]
        })
        .collect();
    let columns = [
        "all_jobs",
        "job_hash",
        "n",
        "entropy_sum",
        "entropy_err",
        "budget_boosts",
        "quarantine_revisits",
    ];
    insert_values(c, "ls_response_stats", &columns, &values).await
}

/// [`insert_rows`] of owned values, [`REBUILD_BATCH`] rows per statement.
async fn insert_values(
    c: &impl GenericClient,
    table: &str,
    columns: &[&str],
    values: &[Vec<Value>],
) -> TxResult<()> {
    for chunk in values.chunks(REBUILD_BATCH) {
        let bound: Vec<Vec<&(dyn ToSql + Sync)>> = chunk
            .iter()
            .map(|row| row.iter().map(|v| v as &(dyn ToSql + Sync)).collect())
            .collect();
        insert_rows(c, table, columns, &bound, "").await?;
    }
    Ok(())
}
