//! Where the store lives, from `--db`: a path or `sqlite:PATH` is a SQLite
//! file (the embedded default).

use std::{fmt, path::PathBuf, str::FromStr};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    Sqlite(PathBuf),
}

impl FromStr for StoreLocation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Err("the PostgreSQL backend is not part of this build; \
                 give a SQLite file path (or sqlite:PATH)"
                .into());
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_sqlite_urls_are_sqlite_files() {
        for text in ["./learning.db", "sqlite:./learning.db"] {
            assert_eq!(
                text.parse::<StoreLocation>().unwrap(),
                StoreLocation::Sqlite("./learning.db".into())
            );
        }
        assert!("sqlite:".parse::<StoreLocation>().is_err());
        assert!("postgres://db/learning".parse::<StoreLocation>().is_err());
    }
}
