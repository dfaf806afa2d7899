//! The population entropy of the last committed snapshot a read saw, at its
//! population version (kept by triggers, see `aggregates`). While nothing
//! changes the population, a call costs one point read of the version. When
//! the version moved, the patterns logged as changed since (see
//! `population_log`) are read and applied to the running sums: the cost of
//! a change is the patterns that changed, not the population. Only the first
//! read, a new generation, or a log that cannot tell, scans every pattern
//! (about 4 ms at 10,000).
//!
//! Only reads fill it: a write transaction may still roll back, and a version
//! number seen inside it could then come back with other contents.

use std::sync::{Condvar, Mutex, MutexGuard};

use rusqlite::Connection;

use super::{patterns::population_entropy, population::Population, population_log};
use crate::domain::entropy::PopulationEntropy;
use crate::store::StoreResult;

#[derive(Default)]
pub struct EntropyCache {
    state: Mutex<State>,
    /// Signalled whenever a full computation ends, with or without a result.
    computed: Condvar,
}

#[derive(Default)]
struct State {
    population: Option<Population>,
    /// A read thread is scanning every pattern now. Readers that need a
    /// later version wait for its result instead of scanning too: while
    /// applications were recorded, 64 callers each recomputing put the p50
    /// at 180 ms.
    computing: bool,
    #[cfg(test)]
    computations: u64,
    #[cfg(test)]
    advances: u64,
}

impl EntropyCache {
    /// The population entropy in `connection`'s read transaction.
    pub fn entropy(&self, connection: &Connection) -> StoreResult<PopulationEntropy> {
        let (Some(version), generation) = population_log::version(connection)? else {
            return population_entropy(connection);
        };
        let mut state = self.lock();
        loop {
            if let Some(population) = &state.population
                && population.generation == generation
                && population.version >= version
            {
                // A later version than this snapshot's was committed after
                // the snapshot was taken, so during this call: it is as
                // much a reading of the population now as this snapshot.
                return Ok(population.entropy);
            }
            if !state.computing {
                break;
            }
            state = self
                .computed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        if let Some(population) = state.population.as_mut()
            && population.generation == generation
            && population.advance(connection, version)?
        {
            let entropy = population.entropy;
            #[cfg(test)]
            {
                state.advances += 1;
            }
            return Ok(entropy);
        }
        state.computing = true;
        #[cfg(test)]
        {
            state.computations += 1;
        }
        drop(state);
        // Clears the mark and wakes the waiters however the computation
        // ends (an error or a panic included); a waiter then computes itself.
        let _computing = Computing { cache: self };
        let population = Population::load(connection, version, generation)?;
        let entropy = population.entropy;
        let mut state = self.lock();
        // Committed versions only grow: never replace a later one.
        if state
            .population
            .as_ref()
            .is_none_or(|held| held.generation != generation || held.version < version)
        {
            state.population = Some(population);
        }
        Ok(entropy)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    fn computations(&self) -> (u64, u64) {
        let state = self.lock();
        (state.computations, state.advances)
    }
}

struct Computing<'a> {
    cache: &'a EntropyCache,
}

impl Drop for Computing<'_> {
    fn drop(&mut self) {
        self.cache.lock().computing = false;
        self.cache.computed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::{Store, StoreOptions, sqlite::SqliteStore};

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

    async fn assert_exact(store: &SqliteStore, path: &std::path::Path) {
        let entropy = population_entropy(&Connection::open(path).unwrap()).unwrap();
        assert_eq!(store.population_entropy().await.unwrap(), entropy);
    }

    /// The first read scans every pattern; later ones apply only the
    /// patterns logged as changed.
    #[tokio::test]
    async fn a_change_costs_the_patterns_that_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("learning.db");
        let store = SqliteStore::open(&path, StoreOptions::default()).unwrap();
        let sql = Connection::open(&path).unwrap();
        patterns_with_counts(&sql, &[3, 1]);
        let first = store.population_entropy().await.unwrap();
        assert_eq!(first.total_applications, 4);
        assert_eq!(store.entropy_cache.computations(), (1, 0));

        // A count changed behind the triggers' back keeps the version: the
        // cached value is served (which shows the cache is used at all).
        sql.execute(
            "UPDATE ls_pattern_app_counts SET n = 9 WHERE pattern_id = 'p1'",
            [],
        )
        .unwrap();
        assert_eq!(store.population_entropy().await.unwrap(), first);

        // A real change moves the version and logs its pattern: only p0 is
        // read again (p1's count, changed unlogged, stays as it was read).
        sql.execute(
            "INSERT INTO pattern_applications (id, pattern_id) VALUES ('x', 'p0')",
            [],
        )
        .unwrap();
        let second = store.population_entropy().await.unwrap();
        assert_eq!(second, PopulationEntropy::from_counts([4, 1]));
        assert_eq!(store.entropy_cache.computations(), (1, 1));
        // A renamed pattern leaves (with its count), its new id joins.
        sql.execute("UPDATE patterns SET id = 'p9' WHERE id = 'p1'", [])
            .unwrap();
        let third = store.population_entropy().await.unwrap();
        assert_eq!(third, PopulationEntropy::from_counts([4, 0]));
        assert_eq!(store.entropy_cache.computations(), (1, 2));
        store.close(Duration::from_secs(5));
    }

    /// Where the log cannot tell what changed, every pattern is read again:
    /// an id that is not text, a version the log does not reach (triggers
    /// of another build), a new generation (the aggregates rebuilt).
    #[tokio::test]
    async fn what_the_log_cannot_tell_is_computed_in_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("learning.db");
        let store = SqliteStore::open(&path, StoreOptions::default()).unwrap();
        let sql = Connection::open(&path).unwrap();
        patterns_with_counts(&sql, &[2, 1]);
        assert_exact(&store, &path).await;
        sql.execute(
            "INSERT INTO patterns (id, pattern_type, pattern_name) VALUES (NULL, 't', 'n')",
            [],
        )
        .unwrap();
        assert_exact(&store, &path).await;
        assert_eq!(store.entropy_cache.computations(), (2, 0));
        sql.execute_batch(
            "UPDATE ls_meta SET value = value + 1 WHERE key = 'population_version'; \
             UPDATE ls_pattern_app_counts SET n = 5 WHERE pattern_id = 'p1';",
        )
        .unwrap();
        assert_exact(&store, &path).await;
        assert_eq!(store.entropy_cache.computations(), (3, 0));
        sql.execute_batch(
            "UPDATE ls_meta SET value = 7 WHERE key = 'population_generation'; \
             UPDATE ls_pattern_app_counts SET n = 6 WHERE pattern_id = 'p1';",
        )
        .unwrap();
        assert_exact(&store, &path).await;
        assert_eq!(store.entropy_cache.computations(), (4, 0));
        sql.execute(
            "INSERT INTO pattern_applications (id, pattern_id) VALUES ('y', 'p0')",
            [],
        )
        .unwrap();
        assert_exact(&store, &path).await;
        assert_eq!(store.entropy_cache.computations(), (4, 1));
        // More changed patterns than a scan costs.
        sql.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) \
             INSERT INTO patterns (id, pattern_type, pattern_name) SELECT 'q' || i, 't', 'n' FROM n;",
        )
        .unwrap();
        assert_exact(&store, &path).await;
        assert_eq!(store.entropy_cache.computations(), (5, 1));
        store.close(Duration::from_secs(5));
    }

    /// Readers that find the same uncached version at once compute it once:
    /// the others wait for that result.
    #[test]
    fn concurrent_readers_of_one_version_compute_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("learning.db");
        SqliteStore::open(&path, StoreOptions::default())
            .unwrap()
            .close(Duration::from_secs(5));
        let sql = Connection::open(&path).unwrap();
        sql.execute_batch(
            "BEGIN; \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
             INSERT INTO patterns (id, pattern_type, pattern_name) \
             SELECT 'p' || i, 't', 'n' FROM n; \
             INSERT INTO pattern_applications (id, pattern_id) \
             SELECT 'a' || id, id FROM patterns; \
             COMMIT;",
        )
        .unwrap();
        let cache = EntropyCache::default();
        let readers = 8;
        let start = std::sync::Barrier::new(readers);
        let results: Vec<PopulationEntropy> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..readers)
                .map(|_| {
                    scope.spawn(|| {
                        let connection = Connection::open(&path).unwrap();
                        start.wait();
                        cache.entropy(&connection).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(cache.computations(), (1, 0));
        assert!(results.iter().all(|r| *r == results[0]));
        assert_eq!(results[0].total_applications, 20_000);
    }
}
