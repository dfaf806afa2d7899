//! `learning-service health`: asks `grpc.health.v1.Health/Check` and exits
//! 0 only when the answer is SERVING, for container and load-balancer
//! health checks (Docker's HEALTHCHECK, Kubernetes' exec probes).

use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use super::{ConnectOptions, connect::Connection, failure::Failure};

#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// The service to ask about (e.g. `learning.v1.BudgetService`); the
    /// default, empty, is the whole server.
    #[arg(long, default_value = "")]
    pub service: String,

    #[command(flatten)]
    pub connect: ConnectOptions,
}

/// Prints the status; any answer but SERVING, or none, is a failure.
pub async fn run(args: HealthArgs) -> Result<(), Failure> {
    let connection = Connection::open(&args.connect).await?;
    let request = connection.request(HealthCheckRequest {
        service: args.service.clone(),
    });
    let answer = connection.call(connection.health().check(request)).await?;
    let status = answer.status();
    let name = status.as_str_name();
    let subject = if args.service.is_empty() {
        connection.server().to_owned()
    } else {
        format!("{} ({})", connection.server(), args.service)
    };
    if status == ServingStatus::Serving {
        println!("{subject}: {name}");
        Ok(())
    } else {
        Err(Failure::Message(format!("{subject}: {name}")))
    }
}
