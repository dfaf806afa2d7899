//! The database `verify` reads: a SQLite file, or a PostgreSQL URL. The
//! checks are the same SQL on both (`$1` parameters, which SQLite takes too);
//! only opening, the integrity check and reading a value differ.

use std::path::Path;

/// One value of a result row: the checks read integers and texts only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Int(i64),
    Text(Option<String>),
}

impl Cell {
    pub fn int(&self) -> Result<i64, String> {
        match self {
            Self::Int(value) => Ok(*value),
            other => Err(format!("expected an integer, got {other:?}")),
        }
    }

    pub fn text(&self) -> Result<Option<String>, String> {
        match self {
            Self::Text(value) => Ok(value.clone()),
            other => Err(format!("expected a text, got {other:?}")),
        }
    }
}

pub enum Database {
    Sqlite(rusqlite::Connection),
    Postgres {
        runtime: tokio::runtime::Runtime,
        client: tokio_postgres::Client,
    },
}

impl Database {
    /// `db` is a `postgres://` (or `postgresql://`) URL, or a SQLite path.
    pub fn open(db: &Path) -> Result<Self, String> {
        let text = db.to_string_lossy();
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            // Opening read-write lets SQLite recover the WAL left by a killed server.
            return rusqlite::Connection::open(db)
                .map(Self::Sqlite)
                .map_err(|e| format!("cannot open {text}: {e}"));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))?;
        let client = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&text, tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("cannot connect to {text}: {e}"))?;
            tokio::spawn(connection);
            Ok::<_, String>(client)
        })?;
        Ok(Self::Postgres { runtime, client })
    }

    /// Problems the database finds in itself: SQLite's `integrity_check`.
    /// PostgreSQL checks its pages and WAL as it recovers; nothing to run.
    pub fn integrity_problems(&mut self) -> Result<Vec<String>, String> {
        let Self::Sqlite(_) = self else {
            return Ok(Vec::new());
        };
        let rows = self.rows("PRAGMA integrity_check", &[])?;
        let messages: Vec<Option<String>> = rows
            .iter()
            .map(|row| row[0].text())
            .collect::<Result<_, _>>()?;
        Ok(if messages == [Some("ok".to_string())] {
            Vec::new()
        } else {
            vec![format!("integrity_check: {messages:?}")]
        })
    }

    /// Every row of `sql` with `params` bound to `$1`, `$2`, ...
    pub fn rows(&mut self, sql: &str, params: &[&str]) -> Result<Vec<Vec<Cell>>, String> {
        let failed = |e: &dyn std::fmt::Display| format!("{sql}: {e}");
        match self {
            Self::Sqlite(connection) => {
                let mut statement = connection.prepare(sql).map_err(|e| failed(&e))?;
                let columns = statement.column_count();
                let rows = statement
                    .query_map(rusqlite::params_from_iter(params), |row| {
                        (0..columns)
                            .map(|i| {
                                Ok(match row.get_ref(i)? {
                                    rusqlite::types::ValueRef::Integer(v) => Cell::Int(v),
                                    rusqlite::types::ValueRef::Null => Cell::Text(None),
                                    other => Cell::Text(Some(
                                        String::from_utf8_lossy(other.as_bytes()?).into_owned(),
                                    )),
                                })
                            })
                            .collect()
                    })
                    .map_err(|e| failed(&e))?;
                rows.collect::<rusqlite::Result<_>>()
                    .map_err(|e| failed(&e))
            }
            Self::Postgres { runtime, client } => {
                let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                let rows = runtime
                    .block_on(client.query(sql, &params))
                    .map_err(|e| failed(&e))?;
                rows.iter()
                    .map(|row| {
                        (0..row.len())
                            .map(|i| {
                                let cell = if *row.columns()[i].type_()
                                    == tokio_postgres::types::Type::INT8
                                {
                                    row.try_get::<_, i64>(i).map(Cell::Int)
                                } else {
                                    row.try_get::<_, Option<String>>(i).map(Cell::Text)
                                };
                                cell.map_err(|e| failed(&e))
                            })
                            .collect()
                    })
                    .collect()
            }
        }
    }

    /// The one row of `sql`.
    pub fn row(&mut self, sql: &str, params: &[&str]) -> Result<Vec<Cell>, String> {
        let mut rows = self.rows(sql, params)?;
        match rows.len() {
            1 => Ok(rows.remove(0)),
            n => Err(format!("{sql}: {n} rows, expected one")),
        }
    }

    /// The integer that `sql` answers.
    pub fn count(&mut self, sql: &str, params: &[&str]) -> Result<i64, String> {
        self.row(sql, params)?[0].int()
    }
}
