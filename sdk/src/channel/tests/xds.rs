//! xDS channel tests: a [`Mesh`](crate::Mesh) against the fake state-of-the-world control plane
//! of `resolver::test_support`, with real greeter backends on loopback.

use std::sync::Arc;
use std::time::Duration;

use meshwork_proto::envoy::config::core::v3 as core_pb;
use meshwork_proto::envoy::config::endpoint::v3 as endpoint_pb;
use meshwork_proto::envoy::config::route::v3 as route_pb;
use meshwork_proto::envoy_types::util::pack_any;
use meshwork_proto::google::protobuf::{Any, UInt32Value};

use super::super::ChannelOptions;
use super::super::test_support::{Backend, bounded, hello, warm_up};
use super::fast_connect;
use crate::resolver::test_support::FakeControlPlane;
use crate::xds::resource::ResourceKind;
use crate::xds::test_fixtures as fx;
use crate::xds::{BackoffConfig, ClientOptions};
use crate::{Mesh, MeshOptions};

const TARGET: &str = "xds:///greeter:50051";
const LISTENER: &str = "greeter:50051";

fn mesh(server_uri: &str, resolve_timeout: Duration) -> Mesh {
    let options = MeshOptions {
        channel: ChannelOptions {
            resolve_timeout,
            seed: Some(5),
            ..ChannelOptions::default()
        },
        connect: fast_connect(),
        xds: ClientOptions {
            backoff: BackoffConfig {
                base: Duration::from_millis(20),
                max: Duration::from_millis(200),
                ..BackoffConfig::default()
            },
            rng_seed: Some(7),
            connect_timeout: Duration::from_secs(2),
            resource_timeout: None,
        },
    };
    Mesh::with_options(fx::bootstrap(server_uri, &[]), options).expect("mesh")
}

/// A load assignment for `cluster` with one endpoint per port in one locality.
fn assignment(cluster: &str, ports: &[u16]) -> Any {
    let lb_endpoints = ports
        .iter()
        .map(|port| endpoint_pb::LbEndpoint {
            host_identifier: Some(endpoint_pb::lb_endpoint::HostIdentifier::Endpoint(
                endpoint_pb::Endpoint {
                    address: Some(core_pb::Address {
                        address: Some(core_pb::address::Address::SocketAddress(
                            core_pb::SocketAddress {
                                address: "127.0.0.1".to_string(),
                                port_specifier: Some(
                                    core_pb::socket_address::PortSpecifier::PortValue(u32::from(
                                        *port,
                                    )),
                                ),
                                ..Default::default()
                            },
                        )),
                    }),
                    ..Default::default()
                },
            )),
            ..Default::default()
        })
        .collect();
    pack_any(endpoint_pb::ClusterLoadAssignment {
        cluster_name: cluster.to_string(),
        endpoints: vec![endpoint_pb::LocalityLbEndpoints {
            locality: Some(core_pb::Locality::default()),
            lb_endpoints,
            load_balancing_weight: Some(UInt32Value { value: 1 }),
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// A route configuration whose only route matches the path prefix `prefix`.
fn routes_only(name: &str, prefix: &str, cluster: &str) -> Any {
    let route = route_pb::Route {
        r#match: Some(route_pb::RouteMatch {
            path_specifier: Some(route_pb::route_match::PathSpecifier::Prefix(
                prefix.to_string(),
            )),
            ..Default::default()
        }),
        action: Some(route_pb::route::Action::Route(route_pb::RouteAction {
            cluster_specifier: Some(route_pb::route_action::ClusterSpecifier::Cluster(
                cluster.to_string(),
            )),
            ..Default::default()
        })),
        ..Default::default()
    };
    pack_any(route_pb::RouteConfiguration {
        name: name.to_string(),
        virtual_hosts: vec![route_pb::VirtualHost {
            name: "greeter-vh".to_string(),
            domains: vec!["*".to_string()],
            routes: vec![route],
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn serve(cp: &FakeControlPlane, routes: Any, ports: &[u16]) {
    cp.set(ResourceKind::Listener, vec![fx::listener(LISTENER, "r")]);
    cp.set(ResourceKind::RouteConfiguration, vec![routes]);
    cp.set(ResourceKind::Cluster, vec![fx::cluster("c1")]);
    cp.set(
        ResourceKind::ClusterLoadAssignment,
        vec![assignment("c1", ports)],
    );
}

#[tokio::test]
async fn xds_calls_land_on_both_backends_and_channels_share_a_target() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let cp = FakeControlPlane::start().await;
    serve(
        &cp,
        fx::route_configuration("r", "c1"),
        &[a.addr.port(), b.addr.port()],
    );
    let mesh = mesh(&cp.addr().to_string(), Duration::from_secs(10));

    let channel = mesh.channel(TARGET).await.expect("channel");
    assert_eq!(channel.authority(), LISTENER);
    warm_up(&channel, &["a", "b"]).await;

    let again = mesh.channel(TARGET).await.expect("channel");
    assert!(
        Arc::ptr_eq(channel.core(), again.core()),
        "one resolution per target"
    );
    assert_eq!(mesh.connection_pool().len(), 2);
}

#[tokio::test]
async fn an_rpc_no_route_matches_fails_unavailable_naming_the_path() {
    let a = Backend::start("a").await;
    let cp = FakeControlPlane::start().await;
    serve(
        &cp,
        routes_only("r", "/other.Service/", "c1"),
        &[a.addr.port()],
    );
    let mesh = mesh(&cp.addr().to_string(), Duration::from_secs(10));
    let channel = mesh.channel(TARGET).await.expect("channel");

    let status = bounded(hello(&channel)).await.expect_err("no route");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status
            .message()
            .contains("no route matches `/helloworld.Greeter/SayHello`"),
        "{}",
        status.message()
    );
    assert!(status.message().contains(TARGET), "{}", status.message());
}

#[tokio::test]
async fn an_unreachable_control_plane_fails_rpcs_naming_the_listener_after_the_resolve_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let unreachable = listener.local_addr().unwrap().to_string();
    drop(listener);
    let mesh = mesh(&unreachable, Duration::from_millis(300));
    let channel = mesh
        .channel(TARGET)
        .await
        .expect("the channel starts without the control plane");

    let started = tokio::time::Instant::now();
    let status = bounded(hello(&channel))
        .await
        .expect_err("no configuration");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains(&format!("`{LISTENER}`")),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains(&unreachable),
        "{}",
        status.message()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failed after {:?}",
        started.elapsed()
    );

    // Later RPCs fail at once with the same text instead of waiting again.
    let again = bounded(hello(&channel))
        .await
        .expect_err("still no configuration");
    assert_eq!(again.message(), status.message());
}
