//! Which service instance wrote a record: named in every explanation, so an
//! operator can tell the replicas (or the restarts) of a deployment apart.

use std::sync::OnceLock;

use crate::domain::explanation::Provenance;

use super::Idempotent;

/// `hostname:pid:start` (start in UTC, to the second): stable for the life of
/// the process, different for each replica and each restart. Computed once.
pub fn default_instance_id() -> String {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let host = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        let started = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        format!("{host}:{}:{started}", std::process::id())
    })
    .clone()
}

/// Who writes: `instance_id`, and the request_id of an idempotent call.
pub fn provenance(instance_id: &str, once: Option<&Idempotent>) -> Provenance {
    Provenance {
        request_id: once.map(|once| once.key.request_id.clone()),
        instance_id: instance_id.to_owned(),
    }
}
