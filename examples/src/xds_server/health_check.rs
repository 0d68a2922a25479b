//! Active health checking by the control plane, as Traffic Director does for the gRPC xDS
//! interop cases: every endpoint of a cluster with a `health_check` is probed with
//! `grpc.health.v1.Health/Check` (service `""`) each interval, and the result is published in EDS
//! as the endpoint's `health_status` (SERVING → HEALTHY, anything else or no answer within the
//! timeout → UNHEALTHY). A backend that calls `SetNotServing` therefore leaves the clients' EDS,
//! and one that is killed does too, without the clients having to notice by themselves.
//!
//! Clusters without `health_check` are served exactly as declared. [`effective`] holds the pure
//! part (applying results, gentle failover); this file is the prober task, owned by the
//! [`ServerHandle`](super::ServerHandle): it stops when the server shuts down or the handle drops.

pub mod effective;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use self::effective::{Observed, effective};
use super::mesh::{Mesh, validate};
use super::state::Store;
use super::translate;

/// Default time between checks.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Default time a check may take.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// The declared mesh and the latest results; every publication goes through here so a mesh
/// change and a health change never overwrite each other.
pub(crate) struct Published {
    state: Mutex<(Mesh, Observed)>,
    store: Arc<Store>,
    changed: Notify,
}

impl Published {
    pub(crate) fn new(mesh: Mesh, store: Arc<Store>) -> Published {
        Published {
            state: Mutex::new((mesh, Observed::new())),
            store,
            changed: Notify::new(),
        }
    }

    /// Declares a new mesh and publishes it with the health known so far; returns the version.
    pub(crate) fn set_mesh(&self, mesh: &Mesh) -> Result<u64, Vec<validate::Issue>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let resources = translate::translate(&effective(mesh, &state.1))?;
        state.0 = mesh.clone();
        let version = self.store.set_mesh(resources);
        drop(state);
        self.changed.notify_one();
        Ok(version)
    }

    /// Records results; republishes only when some endpoint's health changed.
    fn observe(&self, results: Observed) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut observed = state.1.clone();
        observed.extend(results);
        let before = effective(&state.0, &state.1);
        let after = effective(&state.0, &observed);
        state.1 = observed;
        if before == after {
            return;
        }
        match translate::translate(&after) {
            Ok(resources) => {
                self.store.set_mesh(resources);
            }
            Err(issues) => tracing::warn!(?issues, "health-checked mesh not published"),
        }
    }

    /// What to probe: endpoint → (probe address, timeout), and the shortest interval.
    fn targets(
        &self,
    ) -> (
        HashMap<SocketAddr, (SocketAddr, Duration)>,
        Option<Duration>,
    ) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut targets = HashMap::new();
        let mut interval: Option<Duration> = None;
        for cluster in &state.0.clusters {
            let Some(hc) = cluster.health_check else {
                continue;
            };
            let every = hc.interval.map_or(DEFAULT_INTERVAL, |d| d.0);
            interval = Some(interval.map_or(every, |i| i.min(every)));
            let timeout = hc.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
            for endpoint in cluster.localities.iter().flat_map(|l| &l.endpoints) {
                let Ok(addr) = endpoint.address.parse::<SocketAddr>() else {
                    continue;
                };
                let probe =
                    SocketAddr::new(addr.ip(), endpoint.health_check_port.unwrap_or(addr.port()));
                targets.insert(addr, (probe, timeout));
            }
        }
        (targets, interval)
    }
}

/// Starts the prober; it ends when `shutdown` turns true (or its sender drops).
pub(crate) fn spawn(
    published: Arc<Published>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut channels: HashMap<SocketAddr, Channel> = HashMap::new();
        loop {
            let (targets, interval) = published.targets();
            channels.retain(|probe, _| targets.values().any(|(p, _)| p == probe));
            let probes = targets.iter().map(|(addr, (probe, timeout))| {
                let channel = channels
                    .entry(*probe)
                    .or_insert_with(|| lazy_channel(*probe, *timeout))
                    .clone();
                async move { (*addr, check(channel, *timeout).await) }
            });
            let results: Observed = join_all(probes).await.into_iter().collect();
            published.observe(results);
            let wait = async {
                match interval {
                    Some(every) => tokio::time::sleep(every).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = wait => {}
                () = published.changed.notified() => {}
                stop = shutdown.wait_for(|s| *s) => {
                    let _ = stop;
                    return;
                }
            }
        }
    })
}

fn lazy_channel(probe: SocketAddr, timeout: Duration) -> Channel {
    // A literal socket address always makes a valid URI.
    Endpoint::from_shared(format!("http://{probe}"))
        .map(|e| e.connect_timeout(timeout).connect_lazy())
        .unwrap_or_else(|_| Endpoint::from_static("http://127.0.0.1:1").connect_lazy())
}

/// One `Health/Check` of the whole server; `true` only for SERVING within `timeout`.
async fn check(channel: Channel, timeout: Duration) -> bool {
    let request = HealthCheckRequest {
        service: String::new(),
    };
    let answer = tokio::time::timeout(timeout, HealthClient::new(channel).check(request)).await;
    matches!(answer, Ok(Ok(r)) if r.get_ref().status == ServingStatus::Serving as i32)
}

#[cfg(test)]
mod tests;
