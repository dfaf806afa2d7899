//! Configuration of `learning-service serve`: every flag is also an
//! environment variable.

pub mod hardening;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::{
    server::ServerOptions,
    store::{Durability, StoreOptions},
};

#[derive(Clone, Debug, clap::Args)]
pub struct ServeConfig {
    /// SQLite database file; created with the learning store schema on first start.
    #[arg(long, env = "LEARNING_DB", default_value = "./learning.db")]
    pub db: PathBuf,

    /// Address to listen on.
    #[arg(long, env = "LEARNING_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// `full`: every acknowledged write is fsynced (survives power loss).
    /// `normal`: faster, the last writes may be lost on power loss.
    #[arg(long, env = "LEARNING_DURABILITY", value_enum, default_value_t = Durability::Full)]
    pub durability: Durability,

    /// Connections in the read pool.
    #[arg(long, env = "LEARNING_READ_CONNECTIONS", default_value_t = 8)]
    pub read_connections: u32,

    /// Writes that may wait for the writer; beyond it, RESOURCE_EXHAUSTED.
    #[arg(long, env = "LEARNING_WRITE_QUEUE", default_value_t = 4096)]
    pub write_queue: usize,

    /// Concurrent Watch/Subscribe streams; beyond it, RESOURCE_EXHAUSTED.
    #[arg(long, env = "LEARNING_MAX_SUBSCRIBERS", default_value_t = 2048)]
    pub max_subscribers: usize,

    /// How often a quiet stream sends a progress message (e.g. `10s`, `500ms`).
    #[arg(long, env = "LEARNING_STREAM_PROGRESS_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub stream_progress_interval: Duration,

    #[command(flatten)]
    pub hardening: hardening::HardeningArgs,
}

impl ServeConfig {
    pub fn server_options(&self) -> ServerOptions {
        ServerOptions {
            max_subscribers: self.max_subscribers,
            stream_progress_interval: self.stream_progress_interval,
            ..ServerOptions::default()
        }
    }

    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            durability: self.durability,
            read_connections: self.read_connections,
            write_queue_capacity: self.write_queue.max(1),
        }
    }
}
