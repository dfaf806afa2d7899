//! grpc.health.v1 from the store's real state: a background task probes the
//! store (see [`Store::probe`]) and reports SERVING or NOT_SERVING for the
//! whole server ("") and for each service, logging every change once.

use std::{sync::Arc, time::Duration};

use tonic_health::{ServingStatus, server::HealthReporter};

use crate::store::{Store, StoreFault};

/// How long the write check may wait for the writer before the store counts as stalled.
const WRITE_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Probes until dropped or [`HealthMonitor::stop`]ped.
pub struct HealthMonitor {
    task: Option<tokio::task::JoinHandle<()>>,
    reporter: HealthReporter,
    services: Vec<&'static str>,
}

impl HealthMonitor {
    /// Reports SERVING for `services` and "", then, unless `interval` is zero,
    /// probes the store now and every `interval`.
    pub async fn start(
        store: Arc<dyn Store>,
        reporter: HealthReporter,
        services: Vec<&'static str>,
        interval: Duration,
    ) -> Self {
        set_all(&reporter, &services, ServingStatus::Serving).await;
        let task = (!interval.is_zero()).then(|| {
            let reporter = reporter.clone();
            let services = services.clone();
            tokio::spawn(probe_forever(store, reporter, services, interval))
        });
        Self {
            task,
            reporter,
            services,
        }
    }

    /// Stops probing, reports NOT_SERVING, then ends every Watch stream:
    /// graceful shutdown waits for open streams, and a health watcher's never
    /// ends by itself. Checks made after this answer NOT_FOUND.
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        set_all(&self.reporter, &self.services, ServingStatus::NotServing).await;
        // Dropping a status's sender ends its watchers' streams, after they
        // have seen NOT_SERVING.
        self.reporter.clear_service_status("").await;
        for service in &self.services {
            self.reporter.clear_service_status(service).await;
        }
    }
}

impl Drop for HealthMonitor {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn probe_forever(
    store: Arc<dyn Store>,
    reporter: HealthReporter,
    services: Vec<&'static str>,
    interval: Duration,
) {
    let mut current: Result<(), StoreFault> = Ok(());
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let verdict = store.probe(WRITE_PROBE_TIMEOUT).await;
        if same_state(&verdict, &current) {
            continue;
        }
        match &verdict {
            Err(fault) => {
                tracing::error!(%fault, "the store is unusable; health reports NOT_SERVING");
                set_all(&reporter, &services, ServingStatus::NotServing).await;
            }
            Ok(()) => {
                tracing::info!("the store works again; health reports SERVING");
                set_all(&reporter, &services, ServingStatus::Serving).await;
            }
        }
        current = verdict;
    }
}

/// Whether nothing changed worth a log line: the same fault kind counts as
/// the same, so a shrinking free space is not logged at every probe.
fn same_state(a: &Result<(), StoreFault>, b: &Result<(), StoreFault>) -> bool {
    match (a, b) {
        (Ok(()), Ok(())) => true,
        (Err(a), Err(b)) => std::mem::discriminant(a) == std::mem::discriminant(b),
        _ => false,
    }
}

async fn set_all(reporter: &HealthReporter, services: &[&'static str], status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for service in services {
        reporter.set_service_status(service, status).await;
    }
}
