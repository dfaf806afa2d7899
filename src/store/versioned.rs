//! Reads that a caller may answer from what it kept: the backend names the
//! version of what it read, and answers [`Versioned::Unchanged`] when the
//! caller already holds that version.

/// A version of a job's records: equal versions mean equal records, however
/// the records were written (by this service or by another program).
pub type Version = i64;

#[derive(Clone, Debug, PartialEq)]
pub enum Versioned<T> {
    /// The records are still at the version the caller gave.
    Unchanged,
    /// Read now. `version` is None when the backend keeps no versions: the
    /// caller must not keep the value for later reads.
    Read { value: T, version: Option<Version> },
}
