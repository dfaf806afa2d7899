//! The portable subset (see the module documentation), checked: every SQL
//! string of this folder and every migration is scanned for constructs that
//! CockroachDB or YugabyteDB lack or that break the position proof.

#[cfg(test)]
mod tests {
    use super::super::{schema, stats};

    /// Words no statement may contain (compared case-insensitively, whole words).
    const FORBIDDEN_WORDS: &[&str] = &[
        "NEXTVAL",
        "CURRVAL",
        "SETVAL",
        "LASTVAL",
        "SEQUENCE",
        "SERIAL",
        "BIGSERIAL",
        "IDENTITY",
        "XMIN",
        "XMAX",
        "CTID",
        "OID",
        "LISTEN",
        "NOTIFY",
        "UNLISTEN",
        "TRIGGER",
        "FUNCTION",
        "PROCEDURE",
        "TEMPORARY",
        "TEMP",
        "UNLOGGED",
        "INHERITS",
        "LOCKED",
    ];
    /// Prefixes of forbidden functions: advisory locks, xid and snapshot
    /// functions, and every other `pg_` function.
    const FORBIDDEN_PREFIXES: &[&str] = &["PG_", "TXID", "XID"];

    /// The source files of this folder, as text.
    const SOURCES: &[(&str, &str)] = &[
        ("budget.rs", include_str!("budget.rs")),
        ("contract.rs", include_str!("contract.rs")),
        ("diversity.rs", include_str!("diversity.rs")),
        ("explanations.rs", include_str!("explanations.rs")),
        ("idempotency.rs", include_str!("idempotency.rs")),
        ("import.rs", include_str!("import.rs")),
        ("ops.rs", include_str!("ops.rs")),
        ("page.rs", include_str!("page.rs")),
        ("patterns.rs", include_str!("patterns.rs")),
        ("poll.rs", include_str!("poll.rs")),
        ("responses.rs", include_str!("responses.rs")),
        ("retention.rs", include_str!("retention.rs")),
        ("schema.rs", include_str!("schema.rs")),
        ("snapshots.rs", include_str!("snapshots.rs")),
        ("sql.rs", include_str!("sql.rs")),
        ("stats.rs", include_str!("stats.rs")),
        ("streams.rs", include_str!("streams.rs")),
        ("tx.rs", include_str!("tx.rs")),
        ("uncount.rs", include_str!("uncount.rs")),
    ];

    /// The string literals of a Rust source, comments left out.
    fn string_literals(source: &str) -> Vec<String> {
        let code: String = source
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        code.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    fn violations(statement: &str) -> Vec<String> {
        // SQL comments may say anything.
        let code: String = statement
            .lines()
            .map(|line| line.split("--").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map(str::to_ascii_uppercase)
            .filter(|word| {
                FORBIDDEN_WORDS.contains(&word.as_str())
                    || FORBIDDEN_PREFIXES.iter().any(|p| word.starts_with(p))
            })
            .collect()
    }

    fn every_statement() -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = SOURCES
            .iter()
            .flat_map(|(file, source)| {
                string_literals(source)
                    .into_iter()
                    .map(move |literal| (file.to_string(), literal))
            })
            .collect();
        all.extend(
            schema::statements()
                .into_iter()
                .map(|s| ("schema".to_owned(), s.to_owned())),
        );
        all.extend(stats::statements().into_iter().map(|s| ("stats".into(), s)));
        all
    }

    #[test]
    fn every_statement_stays_in_the_portable_subset() {
        let statements = every_statement();
        // The scan sees the statements at all (a broken scan passes nothing).
        assert!(statements.iter().any(|(_, s)| s.contains("FOR UPDATE")));
        assert!(statements.iter().any(|(_, s)| s.contains("ON CONFLICT")));
        assert!(
            statements
                .iter()
                .any(|(_, s)| s.contains("CREATE TABLE patterns"))
        );
        for (file, statement) in &statements {
            let found = violations(statement);
            assert!(
                found.is_empty(),
                "{file}: {found:?} is outside the portable subset in: {statement}"
            );
        }
    }

    #[test]
    fn the_check_catches_what_it_forbids() {
        for bad in [
            "SELECT pg_advisory_xact_lock(1)",
            "CREATE TABLE t (id BIGSERIAL PRIMARY KEY)",
            "SELECT nextval('s')",
            "SELECT xmin, * FROM t",
            "SELECT txid_current()",
            "SELECT pg_current_snapshot()",
            "NOTIFY learning",
            "CREATE TABLE t (id BIGINT GENERATED ALWAYS AS IDENTITY)",
            "SELECT * FROM t FOR UPDATE SKIP LOCKED",
        ] {
            assert!(!violations(bad).is_empty(), "{bad}");
        }
        assert!(violations("SELECT pos FROM t -- no NOTIFY here").is_empty());
        assert_eq!(
            string_literals("let a = \"SELECT 1\";\n    // \"not this\"\nlet b = \"x\";"),
            vec!["SELECT 1".to_owned(), "x".to_owned()]
        );
    }
}
