//! The entropy population as the cache holds it: the application count of
//! every pattern id and the running sums of the entropy (see
//! `domain::entropy_sums`), at one population version. Changes logged after
//! that version (see `population_log`) move it to a later one at the cost of
//! the patterns that changed.

use std::collections::HashMap;

use rusqlite::{Connection, types::ValueRef};

use super::{
    patterns::for_each_pattern,
    population_log::{self, Change},
};
use crate::domain::{entropy::PopulationEntropy, entropy_sums::EntropySums};
use crate::store::StoreResult;

/// Changed patterns beyond which reading them one by one costs more than
/// reading all (a point read each against a scan): a quarter of the
/// population, and at least this many.
const MIN_CHANGES_APPLIED: usize = 256;

pub(super) struct Population {
    /// The population version and generation (see `population_log`) these
    /// counts are of.
    pub version: i64,
    pub generation: Option<i64>,
    /// Patterns with a text id, and their counts. Groups whose id is NULL or
    /// a blob are in `sums` only: a change of one is logged as "recompute".
    counts: HashMap<Box<[u8]>, i64>,
    sums: EntropySums,
    pub entropy: PopulationEntropy,
}

impl Population {
    /// Every pattern, in `connection`'s snapshot, which is at `version`.
    pub fn load(
        connection: &Connection,
        version: i64,
        generation: Option<i64>,
    ) -> StoreResult<Self> {
        let mut counts = HashMap::new();
        let mut sums = EntropySums::default();
        for_each_pattern(connection, |id, count| {
            sums.add(count);
            if let ValueRef::Text(id) = id {
                counts.insert(id.into(), count);
            }
        })?;
        Ok(Self {
            version,
            generation,
            counts,
            entropy: sums.entropy(),
            sums,
        })
    }

    /// Moves to `version`, `connection`'s snapshot, by the patterns logged
    /// as changed since this one. False when the log cannot tell (see
    /// `population_log::changes_since`): nothing changed here then, and
    /// only a full [`Population::load`] can reach `version`.
    pub fn advance(&mut self, connection: &Connection, version: i64) -> StoreResult<bool> {
        let limit = MIN_CHANGES_APPLIED.max(self.counts.len() / 4);
        let Some(changes) =
            population_log::changes_since(connection, self.version, version, limit)?
        else {
            return Ok(false);
        };
        self.apply(changes);
        self.version = version;
        Ok(true)
    }

    fn apply(&mut self, changes: Vec<Change>) {
        for (id, now) in changes {
            match (self.counts.get_mut(&id), now) {
                (Some(count), Some(now)) => {
                    self.sums.replace(*count, now);
                    *count = now;
                }
                (Some(_), None) => {
                    if let Some(count) = self.counts.remove(&id) {
                        self.sums.remove(count);
                    }
                }
                (None, Some(now)) => {
                    self.sums.add(now);
                    self.counts.insert(id, now);
                }
                (None, None) => {}
            }
        }
        self.entropy = self.sums.entropy();
    }
}
