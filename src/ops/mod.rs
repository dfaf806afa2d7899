//! What operators touch: metrics, logs and traces of every call, and the
//! `backup` and `check` of a SQLite store (the PostgreSQL backend relies on
//! the database's own tools), and `migrate` from SQLite to PostgreSQL.

mod backup;
pub mod call_end;
mod check;
pub mod methods;
pub mod metrics;
mod migrate;
pub mod observe;
pub mod request_span;
pub mod telemetry;

pub use backup::BackupArgs;
pub use check::CheckArgs;
pub use migrate::MigrateArgs;
