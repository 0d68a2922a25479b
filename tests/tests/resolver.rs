//! End to end: the SDK's resolver (gRFC A74) follows LDS → RDS → CDS → EDS for an `xds:` target
//! served by the real dev control plane over loopback, and publishes complete snapshots that track
//! the mesh: an update moves the route to another cluster, an invalid resource is NACKed while the
//! last good snapshot keeps serving.

use std::sync::Arc;
use std::time::Duration;

use meshwork::bootstrap::{Bootstrap, Node, XdsServer as XdsServerConfig};
use meshwork::resolver::{ClusterEndpoints, Resolver, ResolverHandle, Snapshot};
use meshwork::xds::XdsClient;
use meshwork::xds::resource::ResourceKind;
use meshwork_examples::xds_server::{Mesh, ServerHandle, XdsServer};
use meshwork_proto::envoy::config::listener::v3::Listener;
use meshwork_proto::envoy_types::util::pack_any;

const WAIT: Duration = Duration::from_secs(10);
const NODE: &str = "resolver-e2e";
const TARGET: &str = "xds:///greeter:50051";

const MESH: &str = r#"
services:
  - host: greeter
    port: 50051
    routes:
      - name: hello
        match: { prefix: /helloworld.Greeter/ }
        cluster: greeter
        retry: { retry_on: [unavailable], num_retries: 3 }
      - name: rest
        cluster: greeter
clusters:
  - name: greeter
    lb_policy: round_robin
    localities:
      - locality: { region: local, zone: zone-a }
        weight: 2
        endpoints:
          - address: 127.0.0.1:50051
          - address: 127.0.0.1:50052
      - locality: { region: local, zone: zone-b }
        weight: 1
        endpoints:
          - address: 127.0.0.1:50053
  - name: greeter-v2
    localities:
      - locality: { zone: zone-c }
        endpoints:
          - address: 127.0.0.1:50061
"#;

struct Fixture {
    server: ServerHandle,
    resolver: ResolverHandle,
    // Keeps the ADS stream alive for the resolver.
    _client: XdsClient,
}

async fn start(mesh: &str) -> anyhow::Result<Fixture> {
    let server = XdsServer::start("127.0.0.1:0".parse()?, Mesh::from_yaml(mesh)?).await?;
    let bootstrap = Bootstrap::new(
        XdsServerConfig::insecure(server.local_addr().to_string()),
        Node::new(NODE),
    );
    let client = XdsClient::new(&bootstrap)?;
    let resolver = Resolver::start(client.clone(), &bootstrap, TARGET)?;
    Ok(Fixture {
        server,
        resolver,
        _client: client,
    })
}

/// Waits (bounded) for a published snapshot that satisfies `pred`.
async fn wait_snapshot(
    resolver: &ResolverHandle,
    what: &str,
    pred: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let mut rx = resolver.subscribe();
    let found = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(s) = rx.borrow_and_update().snapshot.clone().filter(|s| pred(s)) {
                return Some(s);
            }
            if rx.changed().await.is_err() {
                return None;
            }
        }
    })
    .await;
    match found {
        Ok(Some(s)) => s,
        _ => panic!(
            "no snapshot where {what} within {WAIT:?}; state: {:?}",
            resolver.state()
        ),
    }
}

fn eds_addresses(snapshot: &Snapshot, cluster: &str) -> Vec<String> {
    let Some(Ok(config)) = snapshot.cluster(cluster) else {
        panic!("cluster `{cluster}` missing or failed in {snapshot:?}");
    };
    let ClusterEndpoints::Eds {
        assignment: Ok(cla),
        ..
    } = &config.endpoints
    else {
        panic!(
            "cluster `{cluster}` has no EDS endpoints: {:?}",
            config.endpoints
        );
    };
    cla.priorities
        .iter()
        .flat_map(|p| &p.localities)
        .flat_map(|l| &l.endpoints)
        .map(|e| e.address.to_string())
        .collect()
}

#[tokio::test]
async fn target_resolves_to_a_complete_snapshot_of_the_mesh() -> anyhow::Result<()> {
    let f = start(MESH).await?;
    let snapshot = f.resolver.wait_for_snapshot(WAIT).await?;

    assert_eq!(snapshot.listener.name, "greeter:50051");
    let vhost = snapshot
        .virtual_host()
        .expect("a virtual host was selected");
    assert!(
        vhost.domains.iter().any(|d| d == "greeter:50051"),
        "{vhost:?}"
    );
    assert_eq!(vhost.routes.len(), 2, "both mesh routes are in the table");
    // Only the referenced cluster is resolved; greeter-v2 is not routed to yet.
    assert_eq!(
        snapshot.clusters.keys().collect::<Vec<_>>(),
        vec!["greeter"]
    );
    assert_eq!(
        eds_addresses(&snapshot, "greeter"),
        ["127.0.0.1:50051", "127.0.0.1:50052", "127.0.0.1:50053"]
    );
    let Some(Ok(config)) = snapshot.cluster("greeter") else {
        unreachable!()
    };
    let ClusterEndpoints::Eds {
        assignment: Ok(cla),
        ..
    } = &config.endpoints
    else {
        unreachable!()
    };
    let weights: Vec<u32> = cla.priorities[0]
        .localities
        .iter()
        .map(|l| l.weight)
        .collect();
    assert_eq!(weights, [2, 1], "locality weights from the mesh file");

    // The control plane sees our node ACK all four types, and no NACK.
    for kind in ResourceKind::ALL {
        f.server
            .wait_for_ack(NODE, kind.type_url(), f.server.version(), WAIT)
            .await?;
        let log = f.server.ack_log();
        let status = log.status(NODE, kind.type_url());
        assert!(
            status.is_some_and(|s| s.last_acked.is_some() && s.nacks.is_empty()),
            "{kind}: {status:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn route_moved_to_another_cluster_publishes_a_new_snapshot() -> anyhow::Result<()> {
    let f = start(MESH).await?;
    let first = f.resolver.wait_for_snapshot(WAIT).await?;

    let moved = MESH.replace("cluster: greeter\n", "cluster: greeter-v2\n");
    f.server.set_mesh(&Mesh::from_yaml(&moved)?)?;

    let second = wait_snapshot(&f.resolver, "the routes point at greeter-v2", |s| {
        s.clusters.contains_key("greeter-v2") && !s.clusters.contains_key("greeter")
    })
    .await;
    assert!(second.generation > first.generation);
    assert_eq!(eds_addresses(&second, "greeter-v2"), ["127.0.0.1:50061"]);
    Ok(())
}

#[tokio::test]
async fn invalid_listener_is_nacked_and_the_last_good_snapshot_keeps_serving() -> anyhow::Result<()>
{
    let f = start(MESH).await?;
    let good = f.resolver.wait_for_snapshot(WAIT).await?;

    // A Listener without an api_listener is not usable by a gRPC client.
    let bad = Listener {
        name: "greeter:50051".into(),
        ..Default::default()
    };
    f.server.set_raw(
        ResourceKind::Listener.type_url(),
        "greeter:50051",
        pack_any(bad),
    );
    let nack = f
        .server
        .wait_for_nack(NODE, ResourceKind::Listener.type_url(), WAIT)
        .await?;
    assert!(nack.message.contains("greeter:50051"), "{}", nack.message);

    // The resolver reports the rejection next to the snapshot, which it keeps.
    let mut rx = f.resolver.subscribe();
    tokio::time::timeout(WAIT, async {
        while !rx
            .borrow_and_update()
            .resource_errors
            .iter()
            .any(|e| e.kind == ResourceKind::Listener && e.ambient)
        {
            rx.changed().await.expect("resolver running");
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("no ambient listener error: {:?}", f.resolver.state()))?;
    let kept = f.resolver.snapshot().expect("last good snapshot kept");
    assert_eq!(kept.generation, good.generation);
    assert_eq!(eds_addresses(&kept, "greeter").len(), 3);

    // A valid listener again clears the error.
    f.server
        .remove_raw(ResourceKind::Listener.type_url(), "greeter:50051");
    tokio::time::timeout(WAIT, async {
        while !rx.borrow_and_update().resource_errors.is_empty() {
            rx.changed().await.expect("resolver running");
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("error not cleared: {:?}", f.resolver.state()))?;
    Ok(())
}
