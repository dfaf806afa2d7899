//! The protobuf codec of learning.v1 (set in build.rs with `codec_path`):
//! prost's, except that a message that cannot be decoded is INVALID_ARGUMENT
//! naming the field, not INTERNAL "failed to decode Protobuf message". A
//! request that is not valid protobuf (a string that is not UTF-8, a
//! truncated field) is the sender's fault, and the service promises
//! INVALID_ARGUMENT for bad input. The generated clients share the codec, so
//! a client that cannot decode an answer sees the same code.
//!
//! The server side of a server-streaming method uses [`EncodedCodec`]
//! instead (build.rs): its stream yields messages already encoded, once for
//! all subscribers, and they are sent as they are.

use std::marker::PhantomData;

use bytes::{BufMut, Bytes};
use prost::Message;
use tonic::{
    Status,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
};
use tonic_prost::ProstEncoder;

use super::validate::invalid;

/// Sent messages are encoded into a buffer that starts at 1 KiB (tonic: 8
/// KiB, allocated for every call and kept while a stream lives) and is
/// handed to HTTP/2 once it holds 4 KiB (tonic: 32 KiB). A stream whose
/// client does not read keeps one such piece waiting for flow-control
/// window, so this bounds what a stalled stream holds outside its own
/// buffer to about one record.
fn encode_buffers() -> BufferSettings {
    BufferSettings::new(1024, 4096)
}

#[derive(Debug, Clone)]
pub struct LearningCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for LearningCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for LearningCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = RequestDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(encode_buffers())
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder(PhantomData)
    }
}

/// A message already encoded as protobuf: the same bytes prost writes for
/// it. Cloning shares them.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded(Bytes);

impl Encoded {
    /// Encodes `message` (for what is sent to one stream only).
    pub fn of(message: &impl Message) -> Self {
        Self(message.encode_to_vec().into())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The codec of the server side of a streaming method: requests as
/// [`LearningCodec`] decodes them, answers already [`Encoded`].
#[derive(Debug, Clone)]
pub struct EncodedCodec<U>(PhantomData<U>);

impl<U> Default for EncodedCodec<U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<U: Message + Default + Send + 'static> Codec for EncodedCodec<U> {
    type Encode = Encoded;
    type Decode = U;
    type Encoder = EncodedEncoder;
    type Decoder = RequestDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        EncodedEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder(PhantomData)
    }
}

/// Copies an [`Encoded`] message into the frame as it is.
#[derive(Debug, Clone)]
pub struct EncodedEncoder;

impl Encoder for EncodedEncoder {
    type Item = Encoded;
    type Error = Status;

    fn encode(&mut self, item: Encoded, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item.0);
        Ok(())
    }

    fn buffer_settings(&self) -> BufferSettings {
        encode_buffers()
    }
}

/// Decodes with prost; a decode error becomes [`undecodable`].
#[derive(Debug, Clone)]
pub struct RequestDecoder<U>(PhantomData<U>);

impl<U: Message + Default> Decoder for RequestDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf)
            .map(Some)
            .map_err(|error| undecodable(&error))
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

/// INVALID_ARGUMENT naming the field that failed (`trigger.job_hash`), as
/// validation does. prost keeps that path private and only prints it:
/// "failed to decode Protobuf message: Inner.field: Outer.field: description"
/// (innermost first). A test pins that form.
pub fn undecodable(error: &prost::DecodeError) -> Status {
    let text = error.to_string();
    let mut rest = text
        .strip_prefix("failed to decode Protobuf message: ")
        .unwrap_or(&text);
    let mut fields = Vec::new();
    while let Some((segment, tail)) = rest.split_once(": ") {
        match segment.split_once('.') {
            Some((message, field)) if is_identifier(message) && is_identifier(field) => {
                fields.push(field);
                rest = tail;
            }
            _ => break,
        }
    }
    let problem = if rest.starts_with("invalid string value") {
        "is not valid UTF-8".to_owned()
    } else {
        format!("cannot be decoded ({rest})")
    };
    if fields.is_empty() {
        return Status::invalid_argument(format!("the message is not valid protobuf: {rest}"));
    }
    fields.reverse();
    invalid(&fields.join("."), problem)
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{api::validate::tests::field_of, pb};
    use tonic::Code;

    /// Field 1 (job_hash) of EntropyTriggerContext, as bytes that are not UTF-8.
    const BAD_JOB_HASH: [u8; 4] = [0x0a, 0x02, 0xc3, 0x28];

    #[test]
    fn a_string_that_is_not_utf8_names_its_field() {
        let error = pb::EntropyTriggerContext::decode(&BAD_JOB_HASH[..]).unwrap_err();
        let status = undecodable(&error);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "job_hash: is not valid UTF-8");
        assert_eq!(field_of(&status), "job_hash");
    }

    #[test]
    fn a_nested_field_is_named_by_its_path() {
        // TriggerEntropyResponseRequest.trigger (field 1) holding the bad context.
        let mut bytes = vec![0x0a, BAD_JOB_HASH.len() as u8];
        bytes.extend_from_slice(&BAD_JOB_HASH);
        let error = pb::TriggerEntropyResponseRequest::decode(&bytes[..]).unwrap_err();
        let status = undecodable(&error);
        assert_eq!(status.message(), "trigger.job_hash: is not valid UTF-8");
        assert_eq!(field_of(&status), "trigger.job_hash");
    }

    #[test]
    fn other_decode_errors_are_invalid_argument_too() {
        // A length-delimited field 1 that claims 5 bytes but has 1.
        let error = pb::EntropyTriggerContext::decode(&[0x0a, 0x05, b'a'][..]).unwrap_err();
        let status = undecodable(&error);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().starts_with("job_hash: cannot be decoded"),
            "{status:?}"
        );
        // An invalid wire type at the top level: no field to name.
        let error = pb::EntropyTriggerContext::decode(&[0x0f][..]).unwrap_err();
        let status = undecodable(&error);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status
                .message()
                .starts_with("the message is not valid protobuf"),
            "{status:?}"
        );
    }
}
