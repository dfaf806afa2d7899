//! JSON list columns in the original's spelling: `["a", "b"]`, `[]` when empty.

pub fn write_list<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|item| serde_json::Value::from(item.as_ref()).to_string())
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// NULL, empty or unreadable text reads as an empty list.
pub fn read_list(text: Option<String>) -> Vec<String> {
    match text.as_deref().map(str::trim) {
        None | Some("") => Vec::new(),
        Some(text) => serde_json::from_str(text).unwrap_or_else(|error| {
            tracing::warn!(%error, text, "unreadable JSON list column");
            Vec::new()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_matches_python_json_dumps() {
        assert_eq!(write_list::<&str>(&[]), "[]");
        assert_eq!(
            write_list(&["budget_boost", "quarantine_revisit"]),
            r#"["budget_boost", "quarantine_revisit"]"#
        );
        assert_eq!(write_list(&["a\"b"]), r#"["a\"b"]"#);
    }

    #[test]
    fn reads_back() {
        assert_eq!(read_list(Some(r#"["x", "y"]"#.into())), vec!["x", "y"]);
        assert!(read_list(None).is_empty());
        assert!(read_list(Some("".into())).is_empty());
        assert!(read_list(Some("not json".into())).is_empty());
    }
}
