//! Idempotency keys: a write RPC that carries a `request_id` runs once. Its
//! encoded response (opaque bytes to the store) is stored under the key in
//! the same transaction as the write itself, so a crash keeps both or
//! neither, and a retry (even one that races the first call) finds the key
//! and gets the first response back. Keys are kept at least [`RETENTION`],
//! then pruned by a background task in small batches.

/// How long a key is kept at least.
pub const RETENTION: chrono::Duration = chrono::Duration::hours(24);
/// How often the background task looks for expired keys.
pub const PRUNE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// Keys deleted per transaction: small, so that it never delays other writes much.
pub const PRUNE_BATCH: usize = 2000;

/// What identifies one logical call: the client's id, the RPC, and a digest
/// of the request without its id (so a reuse for another request is caught).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub request_id: String,
    pub rpc: &'static str,
    pub digest: Vec<u8>,
}

impl IdempotencyKey {
    /// `request` is the encoded request with its `request_id` cleared.
    pub fn new(rpc: &'static str, request_id: String, request: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, request)
            .as_ref()
            .to_vec();
        Self {
            request_id,
            rpc,
            digest,
        }
    }
}

/// A write that runs at most once per key. `encode` turns the write's result
/// into the response bytes stored with the key (inside the write's
/// transaction); a later call with the key gets those bytes back.
pub struct Idempotent {
    pub key: IdempotencyKey,
    pub encode: EncodeResponse,
}

/// Turns what a write wrote into the response bytes kept for its retries.
/// `Fn`, not `FnOnce`: a transaction retried after a serialization failure
/// encodes again.
pub type EncodeResponse = Box<dyn Fn(&super::Written) -> Vec<u8> + Send + Sync>;
