//! The mesh actually served: the declared mesh with health-check results applied to endpoint
//! health, then, for clusters with an `overprovisioning_factor`, load spilled across priorities.
//!
//! Pure functions, no I/O. The spill follows Envoy's priority load
//! (`intro/arch_overview/upstream/load_balancing/priority`): a priority's health is
//! `min(100, factor × healthy / total)` percent, each priority takes what health it has of the
//! load the priorities above it left, and the result is normalised when the sum of health is under
//! 100. gRPC clients ignore `overprovisioning_factor` (gRFC A27), so when more than one priority
//! gets load the control plane expresses the split itself, as Traffic Director does: those
//! priorities merge into priority 0 and each locality's weight carries its share of the load.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::xds_server::mesh::{Cluster, Health, Locality, Mesh};

/// Health-check results: endpoint address → answered SERVING.
pub type Observed = HashMap<SocketAddr, bool>;

/// Locality weights of merged priorities are percent of load × this, so shares keep precision.
const WEIGHT_SCALE: f64 = 100.0;

/// `declared` with `observed` health applied to every health-checked cluster and priorities
/// spilled where the cluster asks for it.
pub fn effective(declared: &Mesh, observed: &Observed) -> Mesh {
    let mut mesh = declared.clone();
    for cluster in mesh.clusters.iter_mut() {
        if cluster.health_check.is_none() {
            continue;
        }
        for endpoint in cluster
            .localities
            .iter_mut()
            .flat_map(|l| l.endpoints.iter_mut())
        {
            let seen = endpoint
                .address
                .parse()
                .ok()
                .and_then(|addr: SocketAddr| observed.get(&addr));
            match seen {
                Some(true) => endpoint.health = Health::Healthy,
                Some(false) => endpoint.health = Health::Unhealthy,
                None => {}
            }
        }
        if let Some(factor) = cluster.overprovisioning_factor {
            spill(cluster, factor);
        }
    }
    mesh
}

/// Whether gRPC uses an endpoint of this health (gRFC A27: UNKNOWN and HEALTHY).
fn usable(health: Health) -> bool {
    matches!(health, Health::Healthy | Health::Unknown)
}

/// Percent of the load each priority (index) takes, by Envoy's priority load.
pub fn priority_load(cluster: &Cluster, factor: u32) -> Vec<f64> {
    let priorities = cluster
        .localities
        .iter()
        .map(|l| l.priority as usize + 1)
        .max()
        .unwrap_or(0);
    let mut health = vec![0.0_f64; priorities];
    for (p, h) in health.iter_mut().enumerate() {
        let endpoints = cluster
            .localities
            .iter()
            .filter(|l| l.priority as usize == p)
            .flat_map(|l| &l.endpoints);
        let (healthy, total) = endpoints.fold((0.0, 0.0), |(ok, all), e| {
            (ok + f64::from(u8::from(usable(e.health))), all + 1.0)
        });
        if total > 0.0 {
            *h = (f64::from(factor) * healthy / total).min(100.0);
        }
    }
    let total_health = health.iter().sum::<f64>().min(100.0);
    if total_health <= 0.0 {
        return health;
    }
    let mut left = 100.0_f64;
    health
        .iter()
        .map(|h| {
            let load = left.min(*h);
            left -= load;
            load * 100.0 / total_health
        })
        .collect()
}

/// A locality's weight times the fraction of its endpoints that are usable.
fn share(l: &Locality) -> f64 {
    let healthy = l.endpoints.iter().filter(|e| usable(e.health)).count();
    f64::from(l.weight.unwrap_or(1)) * healthy as f64 / l.endpoints.len().max(1) as f64
}

/// Merges the priorities that get load into priority 0 with load-carrying locality weights.
fn spill(cluster: &mut Cluster, factor: u32) {
    let load = priority_load(cluster, factor);
    let loaded = load.iter().filter(|l| **l > 0.0).count();
    if loaded < 2 {
        return;
    }
    // Priorities fill in order, so the loaded ones are 0..loaded.
    for (p, load) in load.iter().enumerate().take(loaded) {
        let total: f64 = cluster
            .localities
            .iter()
            .filter(|l| l.priority as usize == p)
            .map(share)
            .sum();
        for locality in cluster.localities.iter_mut() {
            if locality.priority as usize != p {
                continue;
            }
            let weight = if total > 0.0 {
                load * WEIGHT_SCALE * share(locality) / total
            } else {
                0.0
            };
            // At least 1: a zero weight is invalid, and a locality without healthy endpoints
            // gets no traffic anyway.
            locality.weight = Some((weight.round() as u32).max(1));
            locality.priority = 0;
        }
    }
    let shift = u32::try_from(loaded - 1).unwrap_or(0);
    for locality in cluster.localities.iter_mut() {
        if locality.priority as usize >= loaded {
            locality.priority -= shift;
        }
    }
}
