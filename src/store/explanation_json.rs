//! The stored text of an explanation, the same on every backend: the domain
//! struct as JSON (see `sqlite/explanations.rs` for why JSON).

use serde::{Serialize, de::DeserializeOwned};

use super::{StoreError, StoreResult};

pub fn encode(explanation: &impl Serialize) -> StoreResult<String> {
    serde_json::to_string(explanation)
        .map_err(|e| StoreError::internal(format!("cannot encode an explanation: {e}")))
}

/// An explanation as stored; None when absent, or when its text is not one
/// this release can read (the record is still served, without it).
pub fn decode<T: DeserializeOwned>(text: Option<&str>) -> Option<T> {
    let text = text?;
    match serde_json::from_str(text) {
        Ok(explanation) => Some(explanation),
        Err(error) => {
            tracing::warn!(%error, "an explanation could not be read; served without it");
            None
        }
    }
}
