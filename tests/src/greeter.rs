//! The greeter test mesh and its xDS tree, shared by the end-to-end tests of the xDS client.
//!
//! [`Spec`] describes a small mesh with the knobs tests turn (a route weight, an extra endpoint,
//! a second service to delete); [`subscribe_greeter`] follows `greeter:50051` through LDS → RDS →
//! CDS → EDS like a resolver would (gRFC A27) and checks every value against the default spec.
//! Endpoint addresses are never dialled: these tests stop at the xDS layer.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use meshwork::xds::resource::cluster::{ClusterDiscovery, LbPolicy};
use meshwork::xds::resource::endpoint::{HealthStatus, Locality};
use meshwork::xds::resource::listener::RouteSource;
use meshwork::xds::resource::route::RouteAction;
use meshwork::xds::resource::{
    Cluster, ClusterLoadAssignment, Listener, Resource, ResourceKind, RouteConfiguration,
};
use meshwork::xds::{ResourceDump, WatchError, WatchEvent, XdsClient};
use meshwork_examples::xds_server::{Mesh, ServerHandle};

use crate::control_plane::{client_for, fast_reconnect, start_control_plane};
use crate::watch::{WatchLog, changed, cluster, listener, load_assignment, route_configuration};

/// Bound on anything that should happen "soon" over loopback.
pub const WAIT: Duration = Duration::from_secs(10);
/// Reconnect backoff base for these tests (the default 1 s works too, just slower).
pub const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// The greeter service's listener (and route configuration) name.
pub const GREETER: &str = "greeter:50051";
/// The echo service's listener name.
pub const ECHO: &str = "echo:7070";

/// The mesh under test, with the knobs the tests turn.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Weight of cluster `blue` in the greeter split (`green` keeps 20).
    pub blue_weight: u32,
    /// Adds endpoint 127.0.0.1:50064 to `blue`'s second locality.
    pub extra_endpoint: bool,
    /// Serves the `echo:7070` service and its cluster `echo`.
    pub echo: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            blue_weight: 80,
            extra_endpoint: false,
            echo: true,
        }
    }
}

impl Spec {
    /// The mesh file this spec describes.
    pub fn mesh(self) -> Result<Mesh> {
        let extra = if self.extra_endpoint {
            ", {address: '127.0.0.1:50064'}"
        } else {
            ""
        };
        let (echo_service, echo_cluster) = if self.echo {
            (
                "- {host: echo, port: 7070, cluster: echo}\n",
                "- name: echo\n  lb_policy: ring_hash\n  localities: [{endpoints: [{address: '127.0.0.1:7071'}]}]\n",
            )
        } else {
            ("", "")
        };
        let yaml = format!(
            "services:\n\
             - host: greeter\n\
             \x20 port: 50051\n\
             \x20 routes:\n\
             \x20 - weighted_clusters: [{{name: blue, weight: {blue}}}, {{name: green, weight: 20}}]\n\
             {echo_service}\
             clusters:\n\
             - name: blue\n\
             \x20 lb_policy: least_request\n\
             \x20 least_request: {{choice_count: 3}}\n\
             \x20 localities:\n\
             \x20 - locality: {{region: eu, zone: a}}\n\
             \x20   weight: 3\n\
             \x20   endpoints: [{{address: '127.0.0.1:50061', weight: 5}}, {{address: '127.0.0.1:50062'}}]\n\
             \x20 - locality: {{region: eu, zone: b}}\n\
             \x20   endpoints: [{{address: '127.0.0.1:50063', health: unknown}}{extra}]\n\
             - name: green\n\
             \x20 localities: [{{endpoints: [{{address: '127.0.0.1:50071'}}]}}]\n\
             {echo_cluster}",
            blue = self.blue_weight,
        );
        Mesh::from_yaml(&yaml).with_context(|| format!("test mesh:\n{yaml}"))
    }
}

/// Watches of the whole greeter tree, each drained into a log, and the values first received.
pub struct Greeter {
    /// LDS `greeter:50051`.
    pub lds: WatchLog,
    /// RDS `greeter:50051`.
    pub rds: WatchLog,
    /// CDS `blue`.
    pub cds_blue: WatchLog,
    /// Kept so `green` stays subscribed.
    _cds_green: WatchLog,
    /// EDS `blue`.
    pub eds_blue: WatchLog,
    /// The first listener received.
    pub listener: Arc<Listener>,
    /// The first route configuration received.
    pub routes: Arc<RouteConfiguration>,
    /// The first `blue` cluster received.
    pub blue: Arc<Cluster>,
    /// The first `blue` load assignment received.
    pub blue_endpoints: Arc<ClusterLoadAssignment>,
}

/// Follows `greeter:50051` like a resolver would (LDS → RDS → CDS → EDS), checking each value
/// against [`Spec::default`].
pub async fn subscribe_greeter(client: &XdsClient) -> Result<Greeter> {
    let mut lds = WatchLog::new(client.watch(ResourceKind::Listener, GREETER));
    let listener = lds.wait_for(WAIT, listener).await?;
    ensure!(listener.name == GREETER, "listener {listener:?}");
    let RouteSource::Rds { name: rds_name } = &listener.route_source else {
        bail!(
            "expected the routes over RDS, got {:?}",
            listener.route_source
        );
    };
    ensure!(rds_name == GREETER, "RDS name `{rds_name}`");

    let mut rds = WatchLog::new(client.watch(ResourceKind::RouteConfiguration, rds_name));
    let routes = rds.wait_for(WAIT, route_configuration).await?;
    ensure!(
        split(&routes)? == [("blue".to_string(), 80), ("green".to_string(), 20)],
        "greeter routes {routes:#?}"
    );
    let domains = &routes.virtual_hosts[0].domains;
    ensure!(domains.iter().any(|d| d == GREETER), "domains {domains:?}");

    let mut cds_blue = WatchLog::new(client.watch(ResourceKind::Cluster, "blue"));
    let mut cds_green = WatchLog::new(client.watch(ResourceKind::Cluster, "green"));
    let blue = cds_blue.wait_for(WAIT, cluster).await?;
    let green = cds_green.wait_for(WAIT, cluster).await?;
    ensure!(
        blue.lb_policy
            == LbPolicy::WrrLocality(Box::new(LbPolicy::LeastRequest { choice_count: 3 })),
        "blue LB policy {:?}",
        blue.lb_policy
    );
    ensure!(
        green.lb_policy == LbPolicy::WrrLocality(Box::new(LbPolicy::RoundRobin)),
        "green LB policy {:?}",
        green.lb_policy
    );
    let ClusterDiscovery::Eds { service_name } = &blue.discovery else {
        bail!("blue should use EDS, got {:?}", blue.discovery);
    };

    let mut eds_blue =
        WatchLog::new(client.watch(ResourceKind::ClusterLoadAssignment, service_name));
    let blue_endpoints = eds_blue.wait_for(WAIT, load_assignment).await?;
    let expected = vec![
        locality("a", 3, &[("127.0.0.1:50061", 5), ("127.0.0.1:50062", 1)]),
        locality("b", 1, &[("127.0.0.1:50063", 1)]),
    ];
    ensure!(
        endpoints(&blue_endpoints) == expected,
        "blue endpoints {blue_endpoints:#?}"
    );
    let health = &blue_endpoints.priorities[0].localities[1].endpoints[0].health;
    ensure!(*health == HealthStatus::Unknown, "health {health:?}");
    Ok(Greeter {
        lds,
        rds,
        cds_blue,
        _cds_green: cds_green,
        eds_blue,
        listener,
        routes,
        blue,
        blue_endpoints,
    })
}

/// The (cluster, weight) split of the first route of the first virtual host.
pub fn split(routes: &RouteConfiguration) -> Result<Vec<(String, u32)>> {
    let route = routes
        .virtual_hosts
        .first()
        .and_then(|vh| vh.routes.first())
        .context("no route")?;
    let RouteAction::Forward(forward) = &route.action else {
        bail!("expected a forwarding route, got {:?}", route.action);
    };
    Ok(forward
        .clusters
        .iter()
        .map(|c| (c.name.clone(), c.weight))
        .collect())
}

/// Zone, locality weight and (address, weight) of every endpoint of one locality.
pub type LocalityView = (String, u32, Vec<(String, u32)>);

/// One expected locality: zone, weight and (address, weight) endpoints.
pub fn locality(zone: &str, weight: u32, endpoints: &[(&str, u32)]) -> LocalityView {
    let eps = endpoints
        .iter()
        .map(|(a, w)| ((*a).to_string(), *w))
        .collect();
    (zone.to_string(), weight, eps)
}

/// Every locality at priority 0 (and checks there is no other priority).
pub fn endpoints(cla: &ClusterLoadAssignment) -> Vec<LocalityView> {
    if cla.priorities.len() != 1 {
        return Vec::new();
    }
    cla.priorities[0]
        .localities
        .iter()
        .map(|l| {
            let Locality { zone, .. } = &l.locality;
            let eps = l
                .endpoints
                .iter()
                .map(|e| (e.address.to_string(), e.weight))
                .collect();
            (zone.clone(), l.weight, eps)
        })
        .collect()
}

/// The dump entry of one resource.
pub fn dumped(client: &XdsClient, kind: ResourceKind, name: &str) -> Result<ResourceDump> {
    let dump = client.config_dump();
    dump.resources
        .iter()
        .find(|r| r.kind == kind && r.name == name)
        .cloned()
        .with_context(|| format!("{kind} `{name}` missing from the config dump: {dump:#?}"))
}

/// A started control plane with a client of node `node_id` subscribed to the greeter tree.
pub async fn greeter_setup(node_id: &str) -> Result<(ServerHandle, XdsClient, Greeter)> {
    let server = start_control_plane(Spec::default().mesh()?).await?;
    let client = client_for(&server, node_id, fast_reconnect(BACKOFF_BASE))?;
    let greeter = subscribe_greeter(&client).await?;
    Ok((server, client, greeter))
}

/// The error of a [`WatchEvent::AmbientError`].
pub fn ambient_error(event: &WatchEvent) -> Option<WatchError> {
    match event {
        WatchEvent::AmbientError(e) => Some(e.clone()),
        _ => None,
    }
}

/// The value of the last `Changed` event recorded in `log`.
pub fn last_value(log: &WatchLog) -> Option<Resource> {
    log.all().iter().rev().find_map(|e| changed(e).cloned())
}
