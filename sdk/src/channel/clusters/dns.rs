//! LOGICAL_DNS clusters (gRFC A27 via CDS `LOGICAL_DNS`): the manager task resolves the host name
//! off the request path and hands the answer to [`ClusterSet::on_dns`]; every address becomes an
//! endpoint of one locality. A failed lookup keeps the endpoints the last good answer gave and
//! records an error naming the cluster and host for RPCs that find no endpoint.

use std::net::SocketAddr;

use super::leaf::Limits;
use super::{ClusterSet, Slot, Source};
use crate::balancer::ClusterBalancer;
use crate::tls::UpstreamTls;
use crate::xds::resource::cluster::LbPolicy;
use crate::xds::resource::endpoint::{
    ClusterLoadAssignment, Endpoint, HealthStatus, Locality, LocalityEndpoints, Priority,
};

/// A LOGICAL_DNS name the task should resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DnsLookup {
    /// The cluster.
    pub(crate) cluster: String,
    /// Host name.
    pub(crate) host: String,
    /// Port.
    pub(crate) port: u16,
}

impl ClusterSet {
    pub(super) fn apply_dns(
        &mut self,
        name: &str,
        policy: LbPolicy,
        (host, port): (&str, u16),
        limits: Limits,
        tls: Option<UpstreamTls>,
    ) -> Option<DnsLookup> {
        let source = Source::Dns {
            host: host.to_string(),
            port,
        };
        if let Some(Slot::Leaf(leaf)) = self.clusters.get_mut(name)
            && leaf.source == source
            && leaf.tls == tls
        {
            leaf.balancer.update_policy(policy);
            leaf.update_limits(limits);
            leaf.connect_if_eager();
            return None;
        }
        let balancer = ClusterBalancer::new(name, policy, self.options());
        let leaf = self.leaf(balancer, source, limits, tls);
        self.clusters
            .insert(name.to_string(), Slot::Leaf(Box::new(leaf)));
        Some(DnsLookup {
            cluster: name.to_string(),
            host: host.to_string(),
            port,
        })
    }

    /// Every LOGICAL_DNS cluster, for periodic re-resolution.
    pub(crate) fn dns_lookups(&self) -> Vec<DnsLookup> {
        self.clusters
            .iter()
            .filter_map(|(name, slot)| match slot {
                Slot::Leaf(leaf) => match &leaf.source {
                    Source::Dns { host, port } => Some(DnsLookup {
                        cluster: name.clone(),
                        host: host.clone(),
                        port: *port,
                    }),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// Applies a DNS answer (or failure); returns whether anything changed.
    pub(crate) fn on_dns(
        &mut self,
        lookup: &DnsLookup,
        result: Result<Vec<SocketAddr>, String>,
    ) -> bool {
        let Some(Slot::Leaf(leaf)) = self.clusters.get_mut(&lookup.cluster) else {
            return false;
        };
        if leaf.source
            != (Source::Dns {
                host: lookup.host.clone(),
                port: lookup.port,
            })
        {
            return false;
        }
        match result {
            Ok(addresses) => {
                leaf.dns_error = None;
                let cla = dns_assignment(lookup, addresses);
                let changes = leaf.balancer.update_endpoints(&cla);
                leaf.attach(&self.pool, changes);
                for address in &self.unhealthy {
                    leaf.on_health(*address, false);
                }
            }
            Err(error) => {
                leaf.dns_error = Some(
                    format!(
                        "LOGICAL_DNS cluster `{}`: resolving `{}:{}` failed: {error}; check the \
                         cluster's host name",
                        lookup.cluster, lookup.host, lookup.port
                    )
                    .into(),
                );
            }
        }
        self.endpoints = None;
        true
    }
}

/// One locality holding every address a LOGICAL_DNS name resolved to (duplicates removed).
fn dns_assignment(lookup: &DnsLookup, addresses: Vec<SocketAddr>) -> ClusterLoadAssignment {
    let mut unique = Vec::with_capacity(addresses.len());
    for address in addresses {
        if !unique.contains(&address) {
            unique.push(address);
        }
    }
    let endpoints = unique
        .into_iter()
        .map(|address| Endpoint {
            address,
            additional_addresses: Vec::new(),
            health: HealthStatus::Unknown,
            weight: 1,
            hash_key: None,
            hostname: lookup.host.clone(),
        })
        .collect();
    ClusterLoadAssignment {
        cluster_name: lookup.cluster.clone(),
        priorities: vec![Priority {
            localities: vec![LocalityEndpoints {
                locality: Locality::default(),
                weight: 1,
                endpoints,
            }],
        }],
        drop_overloads: Vec::new(),
    }
}
