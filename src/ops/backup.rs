//! `learning-service backup --db FILE --to FILE`: a consistent copy while
//! the service runs and writes.

use std::{path::PathBuf, process::ExitCode};

use crate::store::sqlite::maintenance;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The SQLite file to copy (the service may be running on it).
    #[arg(long, env = "LEARNING_DB", default_value = "./learning.db")]
    pub db: PathBuf,
    /// The new file to write; an existing file is never overwritten.
    #[arg(long)]
    pub to: PathBuf,
}

impl BackupArgs {
    pub fn run(self) -> ExitCode {
        match maintenance::backup(&self.db, &self.to) {
            Ok(report) => {
                println!(
                    "backed up {} to {} ({} bytes, integrity ok)",
                    self.db.display(),
                    self.to.display(),
                    report.bytes
                );
                for (table, rows) in report.rows {
                    println!("  {table:<24} {rows:>10} rows");
                }
                ExitCode::SUCCESS
            }
            Err(problem) => {
                eprintln!("error: backup of {} failed: {problem}", self.db.display());
                ExitCode::FAILURE
            }
        }
    }
}
