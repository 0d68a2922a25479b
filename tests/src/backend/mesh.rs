//! A builder for `meshwork-xds` mesh files naming real test backends: one service, one or more
//! clusters (split by route weight), localities with priorities and weights, endpoint weights and
//! the LB policy. It renders the YAML of `examples/mesh/README.md` and parses it back through
//! [`Mesh::from_yaml`], so a mesh built here is validated exactly like a file.
//!
//! Covers what the channel tests turn (including explicit [`Route`]s with matchers and hash
//! policies, and EDS health per locality); retries, timeouts, faults and outlier detection are
//! written as YAML by the tests that need them.

use std::fmt::Write as _;
use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use meshwork_examples::xds_server::Mesh;
use meshwork_examples::xds_server::mesh::validate::validate;
use meshwork_examples::xds_server::mesh::{Health, LbPolicy, Route};

/// One service (`xds:///host:port`) and the clusters it routes to.
#[derive(Debug, Clone, PartialEq)]
pub struct MeshSpec {
    host: String,
    port: u16,
    clusters: Vec<ClusterSpec>,
    routes: Vec<Route>,
}

/// A cluster, its share of the service's traffic and its endpoints by locality.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    name: String,
    lb_policy: LbPolicy,
    route_weight: u32,
    localities: Vec<LocalitySpec>,
}

/// Endpoints of one locality at one priority.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalitySpec {
    zone: String,
    priority: u32,
    weight: Option<u32>,
    health: Option<Health>,
    endpoints: Vec<(SocketAddr, Option<u32>)>,
}

impl MeshSpec {
    /// A service `host:port` with no clusters yet.
    pub fn new(host: &str, port: u16) -> Self {
        MeshSpec {
            host: host.to_owned(),
            port,
            clusters: Vec::new(),
            routes: Vec::new(),
        }
    }

    /// Adds a cluster; with two or more, the service splits traffic by their route weights.
    pub fn cluster(mut self, cluster: ClusterSpec) -> Self {
        self.clusters.push(cluster);
        self
    }

    /// Replaces the service's default route (one catch-all, or the weighted split of the
    /// clusters) with `routes`, in match order.
    pub fn routes(mut self, routes: impl IntoIterator<Item = Route>) -> Self {
        self.routes = routes.into_iter().collect();
        self
    }

    /// The target a client dials: `xds:///host:port`.
    pub fn target(&self) -> String {
        format!("xds:///{}:{}", self.host, self.port)
    }

    /// The mesh file text (YAML).
    pub fn yaml(&self) -> String {
        let mut y = format!("services:\n- host: {}\n  port: {}\n", self.host, self.port);
        match self.clusters.as_slice() {
            [only] => {
                let _ = writeln!(y, "  cluster: {}", only.name);
            }
            clusters => {
                y.push_str("  routes:\n  - weighted_clusters:\n");
                for c in clusters {
                    let _ = writeln!(y, "    - {{name: {}, weight: {}}}", c.name, c.route_weight);
                }
            }
        }
        y.push_str("clusters:\n");
        for c in &self.clusters {
            c.write_yaml(&mut y);
        }
        y
    }

    /// The validated mesh, ready for `XdsServer::start` / `ServerHandle::set_mesh`.
    pub fn build(&self) -> Result<Mesh> {
        let yaml = self.yaml();
        let mut mesh = Mesh::from_yaml(&yaml).with_context(|| format!("test mesh:\n{yaml}"))?;
        if self.routes.is_empty() {
            return Ok(mesh);
        }
        let service = mesh
            .services
            .first_mut()
            .context("the rendered mesh has no service")?;
        service.cluster = None;
        service.routes = self.routes.clone();
        let issues = validate(&mesh);
        if !issues.is_empty() {
            bail!(
                "test mesh routes are invalid: {issues:#?}\nroutes: {:#?}",
                self.routes
            );
        }
        Ok(mesh)
    }
}

impl ClusterSpec {
    /// A round-robin cluster `name` with route weight 1 and no endpoints yet.
    pub fn new(name: &str) -> Self {
        ClusterSpec {
            name: name.to_owned(),
            lb_policy: LbPolicy::RoundRobin,
            route_weight: 1,
            localities: Vec::new(),
        }
    }

    /// Sets the endpoint-picking policy.
    pub fn lb_policy(mut self, policy: LbPolicy) -> Self {
        self.lb_policy = policy;
        self
    }

    /// Sets this cluster's weight in the service's split (used with two or more clusters).
    pub fn route_weight(mut self, weight: u32) -> Self {
        self.route_weight = weight;
        self
    }

    /// Adds a locality.
    pub fn locality(mut self, locality: LocalitySpec) -> Self {
        self.localities.push(locality);
        self
    }

    fn write_yaml(&self, y: &mut String) {
        let policy = match self.lb_policy {
            LbPolicy::RoundRobin => "round_robin",
            LbPolicy::LeastRequest => "least_request",
            LbPolicy::RingHash => "ring_hash",
            LbPolicy::PickFirst => "pick_first",
            LbPolicy::PeakEwma => "peak_ewma",
        };
        let _ = write!(
            y,
            "- name: {}\n  lb_policy: {policy}\n  localities:\n",
            self.name
        );
        for l in &self.localities {
            let _ = write!(
                y,
                "  - locality: {{zone: {}}}\n    priority: {}\n",
                l.zone, l.priority
            );
            if let Some(weight) = l.weight {
                let _ = writeln!(y, "    weight: {weight}");
            }
            y.push_str("    endpoints:\n");
            for (addr, weight) in &l.endpoints {
                let _ = write!(y, "    - address: '{addr}'");
                if let Some(weight) = weight {
                    let _ = write!(y, "\n      weight: {weight}");
                }
                if let Some(health) = l.health {
                    let _ = write!(y, "\n      health: {}", health_name(health));
                }
                y.push('\n');
            }
        }
    }
}

impl LocalitySpec {
    /// Locality `zone` at priority 0, default weight, no endpoints yet.
    pub fn new(zone: &str) -> Self {
        LocalitySpec {
            zone: zone.to_owned(),
            priority: 0,
            weight: None,
            health: None,
            endpoints: Vec::new(),
        }
    }

    /// Sets the priority (0 is tried first; priorities must be contiguous from 0).
    pub fn priority(mut self, priority: u32) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the locality weight.
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = Some(weight);
        self
    }

    /// Sets the EDS health of every endpoint of the locality (default: healthy).
    pub fn health(mut self, health: Health) -> Self {
        self.health = Some(health);
        self
    }

    /// Adds endpoints with the default weight.
    pub fn endpoints(mut self, addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.endpoints.extend(addrs.into_iter().map(|a| (a, None)));
        self
    }

    /// Adds one endpoint with an explicit weight.
    pub fn weighted_endpoint(mut self, addr: SocketAddr, weight: u32) -> Self {
        self.endpoints.push((addr, Some(weight)));
        self
    }
}

/// The mesh-file spelling of an EDS health status.
fn health_name(health: Health) -> &'static str {
    match health {
        Health::Unknown => "unknown",
        Health::Healthy => "healthy",
        Health::Unhealthy => "unhealthy",
        Health::Draining => "draining",
        Health::Timeout => "timeout",
        Health::Degraded => "degraded",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn two_weighted_clusters_with_priorities_parse_as_written() {
        let spec = MeshSpec::new("greeter", 50051)
            .cluster(
                ClusterSpec::new("blue")
                    .lb_policy(LbPolicy::LeastRequest)
                    .route_weight(80)
                    .locality(
                        LocalitySpec::new("a")
                            .weight(3)
                            .weighted_endpoint(addr(1), 5),
                    )
                    .locality(LocalitySpec::new("b").priority(1).endpoints([addr(2)])),
            )
            .cluster(
                ClusterSpec::new("green")
                    .route_weight(20)
                    .locality(LocalitySpec::new("c").endpoints([addr(3)])),
            );
        let mesh = spec.build().unwrap();
        assert_eq!(spec.target(), "xds:///greeter:50051");
        let split = &mesh.services[0].routes[0].weighted_clusters;
        assert_eq!((split[0].weight, split[1].weight), (80, 20));
        let blue = &mesh.clusters[0];
        assert_eq!(blue.lb_policy, LbPolicy::LeastRequest);
        assert_eq!(blue.localities[0].weight, Some(3));
        assert_eq!(blue.localities[0].endpoints[0].address, "127.0.0.1:1");
        assert_eq!(blue.localities[0].endpoints[0].weight, Some(5));
        assert_eq!(blue.localities[1].priority, 1);
        assert_eq!(mesh.clusters[1].localities[0].endpoints[0].weight, None);
    }

    #[test]
    fn explicit_routes_and_locality_health_reach_the_mesh() {
        use meshwork_examples::xds_server::mesh::{HashPolicy, RouteMatch};
        let route = Route {
            matcher: RouteMatch {
                path: Some("/helloworld.Greeter/SayHello".into()),
                ..RouteMatch::default()
            },
            cluster: Some("greeter".into()),
            hash_policy: vec![HashPolicy {
                header: Some("x-user".into()),
                ..HashPolicy::default()
            }],
            ..Route::default()
        };
        let spec = MeshSpec::new("greeter", 50051)
            .cluster(
                ClusterSpec::new("greeter").locality(
                    LocalitySpec::new("a")
                        .health(Health::Unhealthy)
                        .endpoints([addr(1), addr(2)]),
                ),
            )
            .routes([route.clone()]);
        let mesh = spec.build().unwrap();
        assert_eq!(mesh.services[0].cluster, None);
        assert_eq!(mesh.services[0].routes, [route]);
        let endpoints = &mesh.clusters[0].localities[0].endpoints;
        assert!(endpoints.iter().all(|e| e.health == Health::Unhealthy));

        let dangling = spec.routes([Route {
            cluster: Some("nowhere".into()),
            ..Route::default()
        }]);
        let error = dangling.build().expect_err("unknown cluster");
        assert!(format!("{error}").contains("nowhere"), "{error}");
    }

    #[test]
    fn one_cluster_uses_the_shorthand_route() {
        let mesh = MeshSpec::new("greeter", 50051)
            .cluster(
                ClusterSpec::new("greeter")
                    .locality(LocalitySpec::new("local").endpoints([addr(9)])),
            )
            .build()
            .unwrap();
        assert_eq!(mesh.services[0].cluster.as_deref(), Some("greeter"));
    }
}
