//! The backend the integration tests run against: `LEARNING_TEST_BACKEND`
//! (`sqlite`, the default, or `postgres`). The suite is written against the
//! store contract; only this file knows how each backend is opened.
//!
//! PostgreSQL needs `LEARNING_TEST_PG_URL` (`.ci/postgres.sh` starts a
//! throwaway cluster and prints one). Each test's "database file" path maps
//! to a schema of its own in that database, so tests stay independent and a
//! test that reopens the same path reopens the same store.

use std::{path::Path, sync::Arc, time::Duration};

use learning_service::store::{
    Store, StoreOptions,
    postgres::{PostgresStore, PostgresUrl},
    sqlite::SqliteStore,
};

/// How long a test's store may take to finish its writes when it stops.
pub const CLOSE_GRACE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backend named by `LEARNING_TEST_BACKEND`; an unknown name fails the
/// test rather than running another backend silently.
pub fn chosen() -> Backend {
    match std::env::var("LEARNING_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => Backend::Sqlite,
        Ok("postgres") => Backend::Postgres,
        Ok(other) => {
            panic!("LEARNING_TEST_BACKEND={other}: unknown backend (known: sqlite, postgres)")
        }
    }
}

/// Whether this test can run: tests of SQLite itself (its file, its locks,
/// other programs writing the file) call this first and return when it says
/// no. Only an explicit PostgreSQL run says no, and it says so on stderr.
pub fn require_sqlite(test: &str) -> bool {
    let sqlite = chosen() == Backend::Sqlite;
    if !sqlite {
        eprintln!("{test}: tests the SQLite file itself; not run against PostgreSQL");
    }
    sqlite
}

/// The PostgreSQL URL of the tests. Missing, it fails the test (never a skip).
pub fn postgres_url() -> String {
    std::env::var("LEARNING_TEST_PG_URL").unwrap_or_else(|_| {
        panic!(
            "LEARNING_TEST_BACKEND=postgres needs LEARNING_TEST_PG_URL \
             (run `bash .ci/postgres.sh` for a throwaway cluster)"
        )
    })
}

/// The schema of a test's store: named after its database path.
pub fn schema_for(db: &Path) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, db.to_string_lossy().as_bytes());
    let hex: String = digest.as_ref()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t_{hex}")
}

/// The test database's URL with `schema` as the only search path (created
/// when missing).
pub async fn postgres_url_for(schema: &str) -> String {
    let url = postgres_url();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test database {url}: {e}"));
    let task = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .await
        .expect("create the test's schema");
    drop(client);
    let _ = task.await;
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// Opens a store for a test. `db` is the SQLite file when the backend is
/// SQLite; the second value is the same store as SQLite, for file-level tests.
pub async fn open(db: &Path, options: StoreOptions) -> (Arc<dyn Store>, Option<Arc<SqliteStore>>) {
    match chosen() {
        Backend::Sqlite => {
            let sqlite = Arc::new(SqliteStore::open(db, options).expect("open store"));
            (sqlite.clone(), Some(sqlite))
        }
        Backend::Postgres => {
            let url: PostgresUrl = postgres_url_for(&schema_for(db))
                .await
                .parse()
                .expect("test URL");
            let store = PostgresStore::connect(&url, &options.postgres)
                .await
                .expect("open the PostgreSQL store")
                .with_instance_id(options.instance_id.clone())
                .with_write_queue(options.write_queue_capacity);
            (Arc::new(store), None)
        }
    }
}

/// Runs `work` with a client of the PostgreSQL store of `db`. Blocking (on a
/// thread of its own, so that a test on any runtime can call it).
pub fn on_postgres<T, F, Fut>(db: &Path, work: F) -> T
where
    T: Send + 'static,
    F: FnOnce(tokio_postgres::Client) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
{
    let schema = schema_for(db);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let url = postgres_url_for(&schema).await;
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect to the test database");
            tokio::spawn(connection);
            work(client).await
        })
    })
    .join()
    .expect("query the test database")
}

/// The BIGINT answers of `queries` (one value each) in the PostgreSQL store of `db`.
pub fn postgres_scalars(db: &Path, queries: Vec<String>) -> Vec<i64> {
    on_postgres(db, |client| async move {
        let mut values = Vec::new();
        for query in queries {
            let row = client
                .query_one(&query, &[])
                .await
                .unwrap_or_else(|e| panic!("{query}: {e}"));
            values.push(row.get::<_, i64>(0));
        }
        values
    })
}

/// Row counts of `tables` in the PostgreSQL store of `db`.
pub fn postgres_row_counts(db: &Path, tables: &[&str]) -> Vec<(String, i64)> {
    let queries = tables
        .iter()
        .map(|t| format!("SELECT COUNT(*) FROM {t}"))
        .collect();
    tables
        .iter()
        .map(|t| t.to_string())
        .zip(postgres_scalars(db, queries))
        .collect()
}

/// The tables of the PostgreSQL store of `db` (its schema), by name.
pub fn postgres_tables(db: &Path) -> Vec<String> {
    on_postgres(db, |client| async move {
        client
            .query(
                "SELECT table_name::TEXT FROM information_schema.tables \
                 WHERE table_schema = current_schema() ORDER BY table_name",
                &[],
            )
            .await
            .expect("list tables")
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect()
    })
}

/// The TEXT answers of `query` (one column) in the PostgreSQL store of `db`.
pub fn postgres_texts(db: &Path, query: String) -> Vec<String> {
    on_postgres(db, |client| async move {
        client
            .query(&query, &[])
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"))
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect()
    })
}

/// The column that holds a streamed record's position: SQLite's rowid, or
/// the `pos` PostgreSQL stamps from its commit-order counter.
pub fn position_column() -> &'static str {
    match chosen() {
        Backend::Sqlite => "rowid",
        Backend::Postgres => "pos",
    }
}

/// Runs `statement` in the PostgreSQL store of `db`; the rows it changed.
pub fn postgres_execute(db: &Path, statement: String) -> u64 {
    on_postgres(db, |client| async move {
        client
            .execute(&statement, &[])
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"))
    })
}

/// A transaction of another client that holds every stream counter row of
/// the PostgreSQL store of `db` (`FOR UPDATE`), so every write waits, until
/// the returned sender is dropped or sent to (then it rolls back).
pub fn postgres_block_writes(db: &Path) -> std::sync::mpsc::Sender<()> {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (locked, is_locked) = std::sync::mpsc::channel::<()>();
    let db = db.to_path_buf();
    std::thread::spawn(move || {
        on_postgres(&db, |mut client| async move {
            let transaction = client.transaction().await.expect("begin");
            transaction
                .query("SELECT value FROM ls_counters FOR UPDATE", &[])
                .await
                .expect("lock the counters");
            locked.send(()).expect("report the lock");
            let _ = tokio::task::spawn_blocking(move || released.recv()).await;
            transaction.rollback().await.expect("release the lock");
        })
    });
    is_locked.recv().expect("the blocker took its locks");
    release
}
