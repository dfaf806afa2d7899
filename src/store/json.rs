//! JSON list columns in the original's spelling: `["a", "b"]`, `[]` when empty.

pub fn write_list<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|item| serde_json::Value::from(item.as_ref()).to_string())
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// NULL and empty text read as an empty list; None for text that is not a
/// JSON list of strings.
pub fn read_list(text: Option<&str>) -> Option<Vec<String>> {
    match text.map(str::trim) {
        None | Some("") => Some(Vec::new()),
        Some(text) => serde_json::from_str(text).ok(),
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
        assert_eq!(
            read_list(Some(r#"["x", "y"]"#)),
            Some(vec!["x".into(), "y".into()])
        );
        assert_eq!(read_list(None), Some(Vec::new()));
        assert_eq!(read_list(Some("")), Some(Vec::new()));
        assert_eq!(read_list(Some("not json")), None);
        assert_eq!(read_list(Some("[1, 2]")), None);
    }
}
