//! Flags of the dashboard (`--http-listen`) and of the gRPC-Web access it needs.

use std::net::SocketAddr;

use crate::dashboard::{PageSettings, origins};

#[derive(Clone, Debug, clap::Args)]
pub struct DashboardArgs {
    /// Serve the live dashboard on this address (e.g. `127.0.0.1:8080`), and
    /// accept gRPC-Web from it on the gRPC listener. Off when absent.
    #[arg(long, env = "LEARNING_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,

    /// Another origin the dashboard is reached from (e.g.
    /// `https://dash.example.com`), allowed to call gRPC-Web besides the ones
    /// derived from --http-listen. Repeatable; comma-separated in the variable.
    #[arg(
        long,
        env = "LEARNING_DASHBOARD_ORIGIN",
        value_delimiter = ',',
        requires = "http_listen"
    )]
    pub dashboard_origin: Vec<String>,
}

impl DashboardArgs {
    /// The `--dashboard-origin` values, checked and written as browsers send them.
    pub fn extra_origins(&self) -> Result<Vec<String>, String> {
        self.dashboard_origin
            .iter()
            .map(|origin| origins::parse(origin))
            .collect()
    }
}

impl super::ServeConfig {
    /// What the dashboard page is told: the gRPC port, the alert threshold
    /// of its diversity chart, and the band of its budget charts.
    pub fn dashboard_page(&self, grpc_port: u16, auth_required: bool) -> PageSettings {
        PageSettings {
            grpc_port,
            alert_threshold: self.entropy_alert_threshold,
            budget_floor: self.auto_respond_floor,
            budget_ceiling: self.auto_respond_ceiling,
            auth_required,
        }
    }
}
