//! What operators run beside the service: `backup` and `check` of a SQLite
//! store (the PostgreSQL backend relies on the database's own tools).

mod backup;
mod check;

pub use backup::BackupArgs;
pub use check::CheckArgs;
