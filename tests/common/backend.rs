//! The backend the integration tests run against: `LEARNING_TEST_BACKEND`
//! (`sqlite`, the default). The suite is written against the store contract;
//! only this file knows how each backend is opened.

use std::{path::Path, sync::Arc, time::Duration};

use learning_service::store::{Store, StoreOptions, sqlite::SqliteStore};

/// How long a test's store may take to finish its writes when it stops.
pub const CLOSE_GRACE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
}

/// The backend named by `LEARNING_TEST_BACKEND`; an unknown name fails the
/// test rather than running another backend silently.
pub fn chosen() -> Backend {
    match std::env::var("LEARNING_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => Backend::Sqlite,
        Ok(other) => panic!("LEARNING_TEST_BACKEND={other}: unknown backend (known: sqlite)"),
    }
}

/// Opens a store for a test. `db` is the SQLite file when the backend is
/// SQLite; the second value is the same store as SQLite, for file-level tests.
pub fn open(db: &Path, options: StoreOptions) -> (Arc<dyn Store>, Option<Arc<SqliteStore>>) {
    match chosen() {
        Backend::Sqlite => {
            let sqlite = Arc::new(SqliteStore::open(db, options).expect("open store"));
            (sqlite.clone(), Some(sqlite))
        }
    }
}
