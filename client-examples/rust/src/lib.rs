//! Rust client of learning-service: the `learning.v1` messages and client stubs, generated at
//! build time from `proto/learning/v1/learning.proto` by tonic-prost-build (see `build.rs`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use learning_client::v1::{budget_service_client::BudgetServiceClient, GetExplorationBudgetRequest};
//!
//! let channel = learning_client::connect("127.0.0.1:50051").await?;
//! let mut budget = BudgetServiceClient::new(channel);
//! let request = GetExplorationBudgetRequest { job_hash: Some("job-1".into()) };
//! println!("{:?}", budget.get_exploration_budget(request).await?.into_inner().budget);
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// Package `learning.v1`: messages, enums and the three service clients.
pub mod v1 {
    // Generated code: proto comments become doc comments that clippy's doc lints dislike.
    #![allow(clippy::all)]
    tonic::include_proto!("learning.v1");
}

/// How long to wait for the connection and for each answer (not for a stream's messages).
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// `http://` is added to an address without a scheme, as the service's own CLI does.
pub fn endpoint(address: &str) -> Result<Endpoint, tonic::transport::Error> {
    let uri = if address.contains("://") {
        address.to_owned()
    } else {
        format!("http://{address}")
    };
    Ok(Endpoint::from_shared(uri)?
        .connect_timeout(TIMEOUT)
        .timeout(TIMEOUT))
}

/// Connects a plaintext channel to a learning-service at `address` (`host:port` or a URI).
pub async fn connect(address: &str) -> Result<Channel, tonic::transport::Error> {
    endpoint(address)?.connect().await
}
