//! Where the store lives, from `--db`: a path or `sqlite:PATH` is a SQLite
//! file (the embedded default); `postgres://` or `postgresql://` is a
//! PostgreSQL database shared by any number of replicas.

use std::{fmt, path::PathBuf, str::FromStr};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    Postgres(super::postgres::PostgresUrl),
}

impl FromStr for StoreLocation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return text.parse().map(Self::Postgres);
        }
        let path = text.strip_prefix("sqlite:").unwrap_or(text);
        if path.is_empty() {
            return Err("the database path is empty".into());
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => write!(f, "{url}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_sqlite_urls_are_sqlite_files_and_postgres_urls_postgres() {
        for text in ["./learning.db", "sqlite:./learning.db"] {
            assert_eq!(
                text.parse::<StoreLocation>().unwrap(),
                StoreLocation::Sqlite("./learning.db".into())
            );
        }
        assert!("sqlite:".parse::<StoreLocation>().is_err());
        assert!(matches!(
            "postgres://db/learning".parse::<StoreLocation>(),
            Ok(StoreLocation::Postgres(_))
        ));
        assert!(matches!(
            "PostgreSQL://db/learning".parse::<StoreLocation>(),
            Ok(StoreLocation::Postgres(_))
        ));
    }
}
