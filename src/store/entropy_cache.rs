//! The population entropy of the last committed snapshot a read saw, keyed by
//! the population version that triggers keep (see `aggregates`). Computing it
//! scans every pattern (about 4 ms at 10,000); while nothing changes the
//! population, each call costs one point read of the version instead.
//!
//! Only reads fill it: a write transaction may still roll back, and a version
//! number seen inside it could then come back with other contents.

use std::sync::Mutex;

use rusqlite::Connection;

use super::{
    StoreResult,
    aggregates::{POPULATION_VERSION, meta_value},
    patterns::population_entropy,
};
use crate::domain::entropy::PopulationEntropy;

#[derive(Default)]
pub struct EntropyCache {
    last: Mutex<Option<(i64, PopulationEntropy)>>,
}

impl EntropyCache {
    /// The population entropy in `connection`'s read transaction.
    pub fn entropy(&self, connection: &Connection) -> StoreResult<PopulationEntropy> {
        let Some(version) = meta_value(connection, POPULATION_VERSION)? else {
            return population_entropy(connection);
        };
        if let Some((cached, entropy)) = *self.lock()
            && cached == version
        {
            return Ok(entropy);
        }
        let entropy = population_entropy(connection)?;
        let mut last = self.lock();
        // Committed versions only grow: never replace a newer entry.
        if last.is_none_or(|(cached, _)| cached < version) {
            *last = Some((version, entropy));
        }
        Ok(entropy)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(i64, PopulationEntropy)>> {
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, StoreOptions};

    fn patterns_with_counts(sql: &Connection, counts: &[i64]) {
        for (n, count) in counts.iter().enumerate() {
            sql.execute(
                "INSERT INTO patterns (id, pattern_type, pattern_name) VALUES (?1, 't', 'n')",
                [format!("p{n}")],
            )
            .unwrap();
            for a in 0..*count {
                sql.execute(
                    "INSERT INTO pattern_applications (id, pattern_id) VALUES (?1, ?2)",
                    [format!("a{n}-{a}"), format!("p{n}")],
                )
                .unwrap();
            }
        }
    }

    #[tokio::test]
    async fn computed_once_per_population_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("learning.db");
        let store = Store::open(&path, StoreOptions::default()).unwrap();
        let sql = Connection::open(&path).unwrap();
        patterns_with_counts(&sql, &[3, 1]);
        let first = store.population_entropy().await.unwrap();
        assert_eq!(first.total_applications, 4);

        // A count changed behind the triggers' back keeps the version: the
        // cached value is served (which shows the cache is used at all).
        sql.execute(
            "UPDATE ls_pattern_app_counts SET n = 9 WHERE pattern_id = 'p1'",
            [],
        )
        .unwrap();
        assert_eq!(store.population_entropy().await.unwrap(), first);

        // Any real change of the population moves the version.
        sql.execute(
            "INSERT INTO pattern_applications (id, pattern_id) VALUES ('x', 'p0')",
            [],
        )
        .unwrap();
        assert_eq!(
            store.population_entropy().await.unwrap().total_applications,
            13
        );
        sql.execute("UPDATE patterns SET id = 'p9' WHERE id = 'p1'", [])
            .unwrap();
        assert_eq!(
            store.population_entropy().await.unwrap().total_applications,
            4
        );
        store.close();
    }
}
