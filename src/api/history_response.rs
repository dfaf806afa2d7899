//! `learning.v1.GetExplorationBudgetHistoryResponse`, written by hand
//! instead of generated (build.rs maps it here with `extern_path`) for one
//! reason: the server can send a page it encoded before ([`Self::encoded`],
//! see `history_cache`) without converting and encoding its records again.
//! On the wire and to clients it is the generated message: the same fields,
//! tags and decoding (a test compares it with prost's encoding).

use bytes::{Buf, BufMut, Bytes};
use prost::{
    DecodeError, Message,
    encoding::{DecodeContext, WireType, message, skip_field, string},
};

use crate::pb::ExplorationBudgetRecord;

#[derive(Clone, PartialEq, Default, Debug)]
pub struct GetExplorationBudgetHistoryResponse {
    /// Records, newest first.
    pub records: Vec<ExplorationBudgetRecord>,
    /// Token of the next page; empty when there is no more.
    pub next_page_token: String,
    /// The whole message, encoded; when set, the fields above are empty and
    /// these bytes are what is sent.
    encoded: Option<Bytes>,
}

impl GetExplorationBudgetHistoryResponse {
    pub fn new(records: Vec<ExplorationBudgetRecord>, next_page_token: String) -> Self {
        Self {
            records,
            next_page_token,
            encoded: None,
        }
    }

    /// A message that sends `body`, an encoding of this message.
    pub fn encoded(body: Bytes) -> Self {
        Self {
            encoded: Some(body),
            ..Self::default()
        }
    }

    /// The message's encoding, shared (a clone costs a reference count).
    pub fn to_bytes(&self) -> Bytes {
        match &self.encoded {
            Some(body) => body.clone(),
            None => Bytes::from(self.encode_to_vec()),
        }
    }
}

const NAME: &str = "GetExplorationBudgetHistoryResponse";

impl Message for GetExplorationBudgetHistoryResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if let Some(body) = &self.encoded {
            buf.put_slice(body);
            return;
        }
        for record in &self.records {
            message::encode(1, record, buf);
        }
        if !self.next_page_token.is_empty() {
            string::encode(2, &self.next_page_token, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        // Named as prost names them, for the codec's INVALID_ARGUMENT message.
        let named = |field: &'static str| {
            move |mut error: DecodeError| {
                error.push(NAME, field);
                error
            }
        };
        match tag {
            1 => message::merge_repeated(wire_type, &mut self.records, buf, ctx)
                .map_err(named("records")),
            2 => string::merge(wire_type, &mut self.next_page_token, buf, ctx)
                .map_err(named("next_page_token")),
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        if let Some(body) = &self.encoded {
            return body.len();
        }
        let token = if self.next_page_token.is_empty() {
            0
        } else {
            string::encoded_len(2, &self.next_page_token)
        };
        message::encoded_len_repeated(1, &self.records) + token
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb;

    /// The message as prost generates it from the proto (the same fields).
    #[derive(Clone, PartialEq, prost::Message)]
    struct Generated {
        #[prost(message, repeated, tag = "1")]
        records: Vec<ExplorationBudgetRecord>,
        #[prost(string, tag = "2")]
        next_page_token: String,
    }

    fn record(id: &str) -> ExplorationBudgetRecord {
        ExplorationBudgetRecord {
            id: id.to_owned(),
            job_hash: "job".to_owned(),
            budget_value: 0.25,
            entropy_at_time: Some(0.5),
            adjustment_reason: Some("why".to_owned()),
            stored_adjustment_type: "boost".to_owned(),
            explanation: Some(pb::BudgetExplanation {
                proposed_value: 0.3,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn encodes_and_decodes_as_the_generated_message() {
        for (records, token) in [
            (vec![], String::new()),
            (vec![record("a"), record("b")], "next".to_owned()),
        ] {
            let generated = Generated {
                records: records.clone(),
                next_page_token: token.clone(),
            }
            .encode_to_vec();
            let ours = GetExplorationBudgetHistoryResponse::new(records, token);
            assert_eq!(ours.encode_to_vec(), generated);
            assert_eq!(ours.encoded_len(), generated.len());
            let decoded = GetExplorationBudgetHistoryResponse::decode(&generated[..]).unwrap();
            assert_eq!(decoded, ours);
            // Sent pre-encoded, it is the same bytes, and the same message to a client.
            let sent = GetExplorationBudgetHistoryResponse::encoded(ours.to_bytes());
            assert_eq!(sent.encode_to_vec(), generated);
            assert_eq!(sent.encoded_len(), generated.len());
        }
    }

    #[test]
    fn a_broken_field_is_named_as_prost_names_it() {
        // Field 2 (the token), length 5, but only two bytes follow.
        let error = GetExplorationBudgetHistoryResponse::decode(&[0x12, 5, b'a', b'b'][..])
            .unwrap_err()
            .to_string();
        let generated = Generated::decode(&[0x12, 5, b'a', b'b'][..])
            .unwrap_err()
            .to_string();
        assert_eq!(error.replace(NAME, "Generated"), generated);
    }
}
