//! Opaque page tokens: the store's page key, versioned and base64url-encoded.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use tonic::Status;

use super::validate::invalid;
use crate::store::PageKey;

pub fn encode(key: Option<PageKey>) -> String {
    let Some(key) = key else {
        return String::new();
    };
    let text = match key {
        PageKey::Before(rowid) => format!("v1|before|{rowid}"),
        PageKey::After(rowid) => format!("v1|after|{rowid}"),
        PageKey::BeforeCalculated {
            calculated_at,
            rowid,
        } => format!("v1|calculated|{rowid}|{calculated_at}"),
    };
    URL_SAFE_NO_PAD.encode(text)
}

fn decode(token: &str) -> Option<PageKey> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let mut parts = text.splitn(4, '|');
    if parts.next()? != "v1" {
        return None;
    }
    let kind = parts.next()?;
    let rowid: i64 = parts.next()?.parse().ok()?;
    match (kind, parts.next()) {
        ("before", None) => Some(PageKey::Before(rowid)),
        ("after", None) => Some(PageKey::After(rowid)),
        ("calculated", Some(calculated_at)) => Some(PageKey::BeforeCalculated {
            calculated_at: calculated_at.to_owned(),
            rowid,
        }),
        _ => None,
    }
}

/// A page asked for with a token (a page that the previous one said exists)
/// that comes back empty: its records were deleted (retention, or another
/// program). OUT_OF_RANGE, rather than an empty page that reads as the end.
pub fn refuse_pruned<T>(token: Option<i64>, page: &crate::store::Page<T>) -> Result<(), Status> {
    if token.is_some() && page.items.is_empty() {
        return Err(<Status as tonic_types::StatusExt>::with_error_details(
            tonic::Code::OutOfRange,
            "page_token: the records after this page no longer exist (deleted by retention \
             or another program); list again without page_token, from the newest record",
            tonic_types::ErrorDetails::with_bad_request_violation(
                "page_token",
                "the records after this page no longer exist",
            ),
        ));
    }
    Ok(())
}

fn garbage() -> Status {
    invalid("page_token", "is not a page token of this list")
}

/// A newest-first list's token: the rowid its next page starts before.
pub fn before(token: &str) -> Result<Option<i64>, Status> {
    match token {
        "" => Ok(None),
        token => match decode(token) {
            Some(PageKey::Before(rowid)) => Ok(Some(rowid)),
            _ => Err(garbage()),
        },
    }
}

/// An oldest-first list's token: the rowid its next page starts after.
pub fn after(token: &str) -> Result<Option<i64>, Status> {
    match token {
        "" => Ok(None),
        token => match decode(token) {
            Some(PageKey::After(rowid)) => Ok(Some(rowid)),
            _ => Err(garbage()),
        },
    }
}

/// The entropy history's token: (calculated_at text, rowid).
pub fn before_calculated(token: &str) -> Result<Option<(String, i64)>, Status> {
    match token {
        "" => Ok(None),
        token => match decode(token) {
            Some(PageKey::BeforeCalculated {
                calculated_at,
                rowid,
            }) => Ok(Some((calculated_at, rowid))),
            _ => Err(garbage()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(
            before(&encode(Some(PageKey::Before(42)))).unwrap(),
            Some(42)
        );
        assert_eq!(after(&encode(Some(PageKey::After(7)))).unwrap(), Some(7));
        let key = PageKey::BeforeCalculated {
            calculated_at: "2025-01-01T10:00:00|x".into(),
            rowid: 3,
        };
        assert_eq!(
            before_calculated(&encode(Some(key))).unwrap(),
            Some(("2025-01-01T10:00:00|x".into(), 3))
        );
        assert_eq!(encode(None), "");
    }

    #[test]
    fn refuses_garbage_and_tokens_of_other_lists() {
        assert!(before("!!!").is_err());
        assert!(before(&URL_SAFE_NO_PAD.encode("v1|before|abc")).is_err());
        assert!(after(&encode(Some(PageKey::Before(1)))).is_err());
    }
}
