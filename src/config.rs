//! Configuration of `learning-service serve`: every flag is also an
//! environment variable.

pub mod dashboard;
pub mod diversity;
pub mod hardening;
pub mod operating;

use std::{net::SocketAddr, time::Duration};

use crate::{
    background::{ResponderOptions, RetentionOptions, SamplerOptions},
    domain::{
        budget::{
            Bounds, DEFAULT_BOOST_AMOUNT, DEFAULT_CEILING, DEFAULT_ENTROPY_THRESHOLD, DEFAULT_FLOOR,
        },
        records::{DEFAULT_MAX_QUARANTINE_REVISITS, MAX_QUARANTINE_REVISITS, ResponseConfig},
    },
    server::ServerOptions,
    store::{Checkpoints, Durability, StoreLocation, StoreOptions, postgres::PostgresOptions},
};

#[derive(Clone, Debug, clap::Args)]
pub struct ServeConfig {
    /// The store: a SQLite file path (or `sqlite:PATH`), created with the
    /// learning store schema on first start; or a PostgreSQL URL
    /// (`postgres://user:password@host:port/dbname?sslmode=...`) shared by
    /// replicas.
    #[arg(long, env = "LEARNING_DB", default_value = "./learning.db")]
    pub db: StoreLocation,

    /// Address to listen on.
    #[arg(long, env = "LEARNING_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// `full`: every acknowledged write is fsynced (survives power loss).
    /// `normal`: faster, the last writes may be lost on power loss.
    #[arg(long, env = "LEARNING_DURABILITY", value_enum, default_value_t = Durability::Full)]
    pub durability: Durability,

    /// Read threads, each with its own connection to the file.
    #[arg(long, env = "LEARNING_READ_CONNECTIONS", default_value_t = 8)]
    pub read_connections: u32,

    /// `auto`: the service checkpoints the SQLite WAL. `off`: it never does,
    /// so that a replication tool such as Litestream can.
    #[arg(long, env = "LEARNING_CHECKPOINT", value_enum, default_value_t = Checkpoints::Auto)]
    pub checkpoint: Checkpoints,

    /// Writes that may wait for the writer; beyond it, RESOURCE_EXHAUSTED.
    #[arg(long, env = "LEARNING_WRITE_QUEUE", default_value_t = 4096)]
    pub write_queue: usize,

    /// Concurrent Watch/Subscribe streams; beyond it, RESOURCE_EXHAUSTED.
    #[arg(long, env = "LEARNING_MAX_SUBSCRIBERS", default_value_t = 2048)]
    pub max_subscribers: usize,

    /// How often a quiet stream sends a progress message (e.g. `10s`, `500ms`).
    #[arg(long, env = "LEARNING_STREAM_PROGRESS_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub stream_progress_interval: Duration,

    /// Record an entropy snapshot at this interval (e.g. `5m`). Off when absent.
    #[arg(long, env = "LEARNING_ENTROPY_SAMPLE_INTERVAL", value_parser = humantime::parse_duration)]
    pub entropy_sample_interval: Option<Duration>,

    /// Sampled snapshots whose diversity is below this are marked threshold_exceeded.
    #[arg(long, env = "LEARNING_ENTROPY_ALERT_THRESHOLD", default_value_t = 0.5)]
    pub entropy_alert_threshold: f64,

    /// Jobs the automatic entropy responder looks after (comma-separated). Off when empty.
    #[arg(long, env = "LEARNING_AUTO_RESPOND_JOBS", value_delimiter = ',')]
    pub auto_respond_jobs: Vec<String>,

    /// How often the responder checks each job.
    #[arg(long, env = "LEARNING_AUTO_RESPOND_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub auto_respond_interval: Duration,

    /// The responder responds when diversity is strictly below this.
    #[arg(long, env = "LEARNING_AUTO_RESPOND_THRESHOLD", default_value_t = DEFAULT_ENTROPY_THRESHOLD)]
    pub auto_respond_threshold: f64,

    /// Minimum time between two responses of a job.
    #[arg(long, env = "LEARNING_AUTO_RESPOND_COOLDOWN", default_value = "1h", value_parser = humantime::parse_duration)]
    pub auto_respond_cooldown: Duration,

    /// Budget boost of an automatic response.
    #[arg(long, env = "LEARNING_AUTO_RESPOND_BOOST_AMOUNT", default_value_t = DEFAULT_BOOST_AMOUNT)]
    pub auto_respond_boost_amount: f64,

    /// Budget floor of an automatic response.
    #[arg(long, env = "LEARNING_AUTO_RESPOND_FLOOR", default_value_t = DEFAULT_FLOOR)]
    pub auto_respond_floor: f64,

    /// Budget ceiling of an automatic response.
    #[arg(long, env = "LEARNING_AUTO_RESPOND_CEILING", default_value_t = DEFAULT_CEILING)]
    pub auto_respond_ceiling: f64,

    /// Quarantined patterns an automatic response revisits at most (0 to 100).
    #[arg(long, env = "LEARNING_AUTO_RESPOND_MAX_REVISITS", default_value_t = DEFAULT_MAX_QUARANTINE_REVISITS)]
    pub auto_respond_max_revisits: i64,

    /// Delete budget records, responses and snapshots older than this many
    /// days (a job's latest budget and last response are always kept). Off when absent.
    #[arg(long, env = "LEARNING_RETAIN_DAYS")]
    pub retain_days: Option<u32>,

    /// Keep at most this many budget records per job (the newest). Off when absent.
    #[arg(long, env = "LEARNING_RETAIN_BUDGET_ROWS_PER_JOB")]
    pub retain_budget_rows_per_job: Option<u64>,

    /// How often retention looks for rows to delete.
    #[arg(long, env = "LEARNING_RETENTION_INTERVAL", default_value = "10m", value_parser = humantime::parse_duration)]
    pub retention_interval: Duration,

    /// PostgreSQL: connections in each replica's pool.
    #[arg(long, env = "LEARNING_PG_POOL_SIZE", default_value_t = 16)]
    pub pg_pool_size: usize,

    /// PostgreSQL: budget write groups committing at once per replica (at
    /// most the pool size).
    #[arg(long, env = "LEARNING_PG_WRITE_LANES", default_value_t = crate::store::postgres::LANES)]
    pub pg_write_lanes: usize,

    /// PostgreSQL: how long a new connection may take (TCP, TLS, login).
    #[arg(long, env = "LEARNING_PG_CONNECT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub pg_connect_timeout: Duration,

    /// PostgreSQL: how long a call waits for a free connection before UNAVAILABLE.
    #[arg(long, env = "LEARNING_PG_WAIT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub pg_wait_timeout: Duration,

    /// PostgreSQL: CA file (PEM) of the database's certificate, for
    /// sslmode=require/verify-full (else the URL's sslrootcert).
    #[arg(long, env = "LEARNING_PG_CA")]
    pub pg_ca: Option<std::path::PathBuf>,

    /// Names this process in the explanation of every record it writes.
    /// Default: `hostname:pid:start time` (UTC), different per replica and restart.
    #[arg(long, env = "LEARNING_INSTANCE_ID")]
    pub instance_id: Option<String>,

    #[command(flatten)]
    pub hardening: hardening::HardeningArgs,

    #[command(flatten)]
    pub dashboard: dashboard::DashboardArgs,

    #[command(flatten)]
    pub operating: operating::OperatingArgs,

    #[command(flatten)]
    pub diversity: diversity::DiversityArgs,
}

fn fraction(flag: &str, value: f64) -> Result<f64, String> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("--{flag} must be between 0 and 1, got {value}"))
    }
}

fn positive(flag: &str, value: Duration) -> Result<Duration, String> {
    if value.is_zero() {
        Err(format!("--{flag} must be greater than 0"))
    } else {
        Ok(value)
    }
}

impl ServeConfig {
    /// The server's options, with the flags checked.
    pub fn server_options(&self) -> Result<ServerOptions, String> {
        let sampler = match self.entropy_sample_interval {
            None => None,
            Some(interval) => Some(SamplerOptions {
                interval: positive("entropy-sample-interval", interval)?,
                alert_threshold: fraction("entropy-alert-threshold", self.entropy_alert_threshold)?,
                diversity: self.diversity.sampler()?,
            }),
        };
        let jobs: Vec<String> = self
            .auto_respond_jobs
            .iter()
            .map(|job| job.trim().to_owned())
            .filter(|job| !job.is_empty())
            .collect();
        let responder = if jobs.is_empty() {
            None
        } else {
            let floor = fraction("auto-respond-floor", self.auto_respond_floor)?;
            let ceiling = fraction("auto-respond-ceiling", self.auto_respond_ceiling)?;
            if floor > ceiling {
                return Err(format!(
                    "--auto-respond-floor ({floor}) must not exceed --auto-respond-ceiling ({ceiling})"
                ));
            }
            if !(0..=MAX_QUARANTINE_REVISITS).contains(&self.auto_respond_max_revisits) {
                return Err(format!(
                    "--auto-respond-max-revisits must be between 0 and {MAX_QUARANTINE_REVISITS}, got {}",
                    self.auto_respond_max_revisits
                ));
            }
            Some(ResponderOptions {
                jobs,
                interval: positive("auto-respond-interval", self.auto_respond_interval)?,
                entropy_threshold: fraction("auto-respond-threshold", self.auto_respond_threshold)?,
                cooldown_seconds: self.auto_respond_cooldown.as_secs() as i64,
                diversity: self.diversity.responder()?,
                config: ResponseConfig {
                    boost_budget: true,
                    revisit_quarantine: true,
                    max_quarantine_revisits: self.auto_respond_max_revisits,
                    bounds: Bounds { floor, ceiling },
                    budget_boost_amount: fraction(
                        "auto-respond-boost-amount",
                        self.auto_respond_boost_amount,
                    )?,
                },
            })
        };
        if self.retain_days == Some(0) || self.retain_budget_rows_per_job == Some(0) {
            return Err(
                "--retain-days and --retain-budget-rows-per-job must be at least 1".to_owned(),
            );
        }
        let retention = (self.retain_days.is_some() || self.retain_budget_rows_per_job.is_some())
            .then_some(RetentionOptions {
                days: self.retain_days,
                budget_rows_per_job: self.retain_budget_rows_per_job,
                interval: positive("retention-interval", self.retention_interval)?,
            });
        Ok(ServerOptions {
            max_subscribers: self.max_subscribers,
            retention,
            stream_progress_interval: positive(
                "stream-progress-interval",
                self.stream_progress_interval,
            )?,
            sampler,
            responder,
            ..ServerOptions::default()
        })
    }

    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            durability: self.durability,
            read_connections: self.read_connections,
            write_queue_capacity: self.write_queue.max(1),
            checkpoints: self.checkpoint,
            postgres: PostgresOptions {
                pool_size: self.pg_pool_size.max(1),
                write_lanes: self.pg_write_lanes.max(1),
                connect_timeout: self.pg_connect_timeout,
                wait_timeout: self.pg_wait_timeout,
                ca: self.pg_ca.clone(),
            },
            instance_id: self
                .instance_id
                .clone()
                .filter(|id| !id.is_empty())
                .unwrap_or_else(crate::store::default_instance_id),
        }
    }
}
