//! Reads behind the Watch/Subscribe streams: records in position order after
//! a position (see the module documentation for why positions follow commit
//! order across replicas).

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{
    sql,
    sql::{BUDGET, RESPONSES, SNAPSHOTS},
    tx::TxResult,
};
use crate::store::{Position, StreamBounds, StreamFilter, StreamTable};

pub fn table_name(table: StreamTable) -> &'static str {
    match table {
        StreamTable::Budget => BUDGET,
        StreamTable::Responses => RESPONSES,
        StreamTable::Snapshots => SNAPSHOTS,
    }
}

fn position(pos: i64) -> Position {
    Position::new(pos).unwrap_or(Position::START)
}

/// Rows of `select` (`SELECT pos, ... FROM` a streamed table, joined or
/// not) after `after`, in position order.
pub async fn rows_after<T>(
    c: &impl GenericClient,
    select: &str,
    after: Position,
    limit: usize,
    map: impl Fn(&Row) -> TxResult<(i64, T)>,
) -> TxResult<Vec<(Position, T)>> {
    let text = format!("{select} WHERE pos > $1 ORDER BY pos LIMIT $2");
    let rows = sql::query(c, &text, &[&after.value(), &(limit as i64)]).await?;
    rows.iter()
        .map(|row| map(row).map(|(pos, record)| (position(pos), record)))
        .collect()
}

pub async fn bounds(c: &impl GenericClient, table: StreamTable) -> TxResult<StreamBounds> {
    let text = format!("SELECT MIN(pos), MAX(pos) FROM {}", table_name(table));
    let row = sql::query_one(c, &text, &[]).await?;
    let (oldest, newest): (Option<i64>, Option<i64>) = (row.try_get(0)?, row.try_get(1)?);
    Ok(StreamBounds {
        oldest: oldest.map(position),
        newest: newest.map(position),
    })
}

pub async fn backfill_start(
    c: &impl GenericClient,
    table: StreamTable,
    filter: StreamFilter,
    count: usize,
) -> TxResult<Position> {
    if count == 0 {
        return Ok(bounds(c, table).await?.end());
    }
    let offset = (count - 1) as i64;
    let name = table_name(table);
    let row = match filter {
        StreamFilter::All => {
            let text = format!("SELECT pos FROM {name} ORDER BY pos DESC LIMIT 1 OFFSET $1");
            sql::query_opt(c, &text, &[&offset]).await?
        }
        StreamFilter::Job(job) => {
            let text = format!(
                "SELECT pos FROM {name} WHERE job_hash = $2 ORDER BY pos DESC LIMIT 1 OFFSET $1"
            );
            sql::query_opt(c, &text, &[&offset, &job]).await?
        }
        StreamFilter::ThresholdExceeded => {
            let text = format!(
                "SELECT pos FROM {name} WHERE threshold_exceeded != 0 \
                 ORDER BY pos DESC LIMIT 1 OFFSET $1"
            );
            sql::query_opt(c, &text, &[&offset]).await?
        }
    };
    let oldest: Option<i64> = row.map(|row| row.try_get(0)).transpose()?;
    Ok(oldest.map_or(Position::START, |pos| position(pos).before()))
}

/// The counters of every streamed table: what the poll compares.
pub async fn counters(c: &impl GenericClient) -> TxResult<Vec<(String, i64)>> {
    let rows = sql::query(c, "SELECT name, value FROM ls_counters ORDER BY name", &[]).await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}
