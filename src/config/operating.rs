//! Flags for watching the service: Prometheus metrics and trace export.

use std::net::SocketAddr;

use crate::{
    ops::metrics::{MAX_BUDGET_JOBS, MetricsOptions},
    server::ServerOptions,
    store::StoreLocation,
};

#[derive(Clone, Debug, clap::Args)]
pub struct OperatingArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. `127.0.0.1:9090`). Off when absent.
    #[arg(long, env = "LEARNING_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,

    /// Also export the latest budget of these jobs (comma-separated, at
    /// most 100): one series per job, so name only the jobs you watch.
    #[arg(
        long,
        env = "LEARNING_METRICS_BUDGET_JOBS",
        value_delimiter = ',',
        requires = "metrics_listen"
    )]
    pub metrics_budget_jobs: Vec<String>,

    /// Export spans over OTLP/gRPC to this collector (e.g. `http://127.0.0.1:4317`). Off when absent.
    #[arg(long, env = "LEARNING_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
}

impl OperatingArgs {
    pub fn apply(&self, options: &mut ServerOptions, db: &StoreLocation) -> Result<(), String> {
        let Some(listen) = self.metrics_listen else {
            return Ok(());
        };
        let mut budget_jobs: Vec<String> = self
            .metrics_budget_jobs
            .iter()
            .map(|job| job.trim().to_owned())
            .filter(|job| !job.is_empty())
            .collect();
        budget_jobs.dedup();
        if budget_jobs.len() > MAX_BUDGET_JOBS {
            return Err(format!(
                "--metrics-budget-jobs names {} jobs; at most {MAX_BUDGET_JOBS} are exported",
                budget_jobs.len()
            ));
        }
        options.metrics = Some(MetricsOptions {
            listen,
            budget_jobs,
            // The file sizes are SQLite's; another backend reports none.
            db: match db {
                StoreLocation::Sqlite(path) => Some(path.clone()),
                StoreLocation::Postgres(_) => None,
            },
        });
        Ok(())
    }
}
