//! Which patterns of the entropy population changed since a version: the
//! triggers of `aggregates` bump the population version on every change of
//! a pattern id or of an application count, and here write the version into
//! `ls_population_changes`, one row per pattern id (so the table stays as
//! small as the population, with nothing to prune). The entropy cache reads
//! the rows above the version it holds and updates only those patterns.
//!
//! SQL of SQLite 3.40 only, and nothing that can fail an insert of the
//! original store: the key is never NULL (an id that is not text, NULL
//! included, is logged as the integer 0, which no text id equals, and tells
//! the reader to recompute everything).

use rusqlite::{Connection, types::ValueRef};

use super::aggregates::POPULATION_VERSION;
use crate::store::StoreResult;

pub(super) const TABLE: &str = "ls_population_changes";

/// Key in `ls_meta` of a random number drawn whenever the aggregate tables
/// are rebuilt: counts and log then start again, and an entropy computed
/// before says nothing about them.
pub(super) const POPULATION_GENERATION: &str = "population_generation";

/// `pattern_id` has no declared type, so that the integer 0 stays apart
/// from every text id.
pub(super) const CREATE: &str = "
CREATE TABLE ls_population_changes (
    pattern_id PRIMARY KEY,
    seq INTEGER
) WITHOUT ROWID;
CREATE INDEX ls_population_changes_seq ON ls_population_changes (seq);
";

/// Whose change a trigger logs.
#[derive(Clone, Copy)]
pub(super) enum Changed {
    /// Applications: rows with a NULL pattern id count for no pattern.
    Applications,
    /// Patterns: a NULL id is a pattern of the population too (one group).
    Patterns,
}

/// Trigger statements for a change of the pattern ids `ids` (expressions
/// such as `NEW.pattern_id`): bump the version once, then log each id at
/// the new version. A change that concerns no pattern bumps nothing.
pub(super) fn log(ids: &[String], changed: Changed) -> String {
    let counts = |id: &String| match changed {
        Changed::Applications => format!("{id} IS NOT NULL"),
        Changed::Patterns => "1".to_owned(),
    };
    let any: Vec<String> = ids.iter().map(counts).collect();
    let mut sql = format!(
        "UPDATE ls_meta SET value = value + 1 WHERE key = '{POPULATION_VERSION}' AND ({});\n",
        any.join(" OR ")
    );
    for id in ids {
        sql += &format!(
            "INSERT INTO ls_population_changes (pattern_id, seq) \
             SELECT CASE WHEN typeof({id}) = 'text' THEN {id} ELSE 0 END, value FROM ls_meta \
             WHERE key = '{POPULATION_VERSION}' AND {} \
             ON CONFLICT (pattern_id) DO UPDATE SET seq = excluded.seq;\n",
            counts(id)
        );
    }
    sql
}

/// The version and generation of the population in this snapshot (None
/// for a row that is missing or not a whole number).
pub(super) fn version(connection: &Connection) -> StoreResult<(Option<i64>, Option<i64>)> {
    Ok(connection
        .prepare_cached(
            "SELECT (SELECT value FROM ls_meta WHERE key = ?1), \
             (SELECT value FROM ls_meta WHERE key = ?2)",
        )?
        .query_row([POPULATION_VERSION, POPULATION_GENERATION], |row| {
            let whole = |i| row.get_ref(i).ok().and_then(super::cells::whole_number);
            Ok((whole(0), whole(1)))
        })?)
}

/// A pattern id of the population and its application count now (0 when
/// it has none; None when no pattern has that id any more).
pub(super) type Change = (Box<[u8]>, Option<i64>);

/// The patterns changed after version `since` up to `version` (this
/// snapshot's), with their counts now; None when the log cannot tell: it
/// does not reach `version` (triggers of another build kept the version
/// without it), a change concerns an id that is not text, or more than
/// `limit` patterns changed (a full recomputation is cheaper then).
pub(super) fn changes_since(
    connection: &Connection,
    since: i64,
    version: i64,
    limit: usize,
) -> StoreResult<Option<Vec<Change>>> {
    let logged: Option<i64> = connection
        .prepare_cached("SELECT max(seq) FROM ls_population_changes")?
        .query_row([], |row| Ok(super::cells::whole_number(row.get_ref(0)?)))?;
    if logged != Some(version) {
        return Ok(None);
    }
    // Counted as the full reading counts (`patterns::population_entropy`):
    // the applications of the id once per pattern row with that id.
    let mut statement = connection.prepare_cached(
        "SELECT ch.pattern_id, (SELECT COUNT(*) FROM patterns p WHERE p.id = ch.pattern_id), \
         (SELECT c.n FROM ls_pattern_app_counts c WHERE c.pattern_id = ch.pattern_id) \
         FROM ls_population_changes ch WHERE ch.seq > ?1",
    )?;
    let mut rows = statement.query([since])?;
    let mut changes = Vec::new();
    while let Some(row) = rows.next()? {
        let ValueRef::Text(id) = row.get_ref(0)? else {
            return Ok(None);
        };
        if changes.len() == limit {
            return Ok(None);
        }
        let patterns: i64 = row.get(1)?;
        let count = (patterns > 0).then(|| {
            let applications = super::patterns::application_count(row, 2);
            applications.wrapping_mul(patterns)
        });
        changes.push((id.into(), count));
    }
    Ok(Some(changes))
}
