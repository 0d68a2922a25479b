//! The admin endpoint end to end: a tonic admin client against `Mesh::serve_admin` over
//! loopback, with the dev control plane and real greeter backends.
//!
//! Covers runtime fault rules (client side through a channel, server side through the server
//! layer), their time-to-live and its cap, authentication of mutations (bearer token, or a
//! client certificate over mutual TLS with rcgen-minted certificates), the Watch stream's fault
//! and NACK events, CSDS after an update and a NACK, the refusal of a non-loopback bind without a
//! token or mutual TLS, per-endpoint live stats (rate, error rate, latency quantiles), Watch ejection and
//! breaker-overflow events, draining a service with SetServing, and channelz on the admin port.
//! Waits are bounded polls, never fixed sleeps. Tests are grouped by topic in the submodules.

mod auth;
mod faults;
mod live;
mod watch;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use meshwork::Mesh;
use meshwork::admin::{AdminError, AdminHandle, AdminOptions, AdminTls};
use meshwork::channel::ChannelOptions;
use meshwork::xds::resource::ResourceKind;
use meshwork_examples::greeter::GreeterBackend;
use meshwork_examples::xds_server::translate::to_any;
use meshwork_proto::admin::v1 as pb;
use meshwork_proto::admin::v1::admin_client::AdminClient;
use meshwork_proto::envoy::config::listener::v3::Listener as ProtoListener;
use meshwork_proto::envoy::service::status::v3::ClientStatusRequest;
use meshwork_proto::envoy::service::status::v3::client_status_discovery_service_client::ClientStatusDiscoveryServiceClient;
use meshwork_proto::helloworld::HelloRequest;
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use meshwork_tests::backend::Backends;
use meshwork_tests::resilience::{ServiceYaml, mesh_yaml, sdk_mesh, serve_yaml};
use meshwork_tests::{mesh_for, start_control_plane};
use tokio::time::Instant;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const TOKEN: &str = "test-admin-token";
const WAIT: Duration = Duration::from_secs(10);
const LISTENER: &str = "greeter:50051";

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn serve(mesh: &Mesh) -> Result<(AdminHandle, AdminClient<Channel>)> {
    let options = AdminOptions {
        token: Some(TOKEN.into()),
        ..AdminOptions::default()
    };
    let handle = mesh.serve_admin(loopback(), options).await?;
    let client = AdminClient::connect(format!("http://{}", handle.local_addr())).await?;
    Ok((handle, client))
}

fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value = MetadataValue::try_from(format!("Bearer {token}"))
        .unwrap_or_else(|_| MetadataValue::from_static("Bearer not-ascii"));
    request.metadata_mut().insert("authorization", value);
    request
}

fn rule(scope: pb::fault_scope::Scope, code: Code, ttl_ms: Option<u64>) -> pb::SetFaultRequest {
    pb::SetFaultRequest {
        spec: Some(pb::FaultRuleSpec {
            scope: Some(pb::FaultScope { scope: Some(scope) }),
            delay_ms: 0,
            abort_code: Some(code as i32),
            percentage: 100.0,
            ttl_ms,
        }),
    }
}

/// A service `host:50051` routed to the cluster of the same name, without route policies.
fn service(host: &str) -> ServiceYaml {
    ServiceYaml {
        host: host.into(),
        cluster: host.into(),
        route: Vec::new(),
    }
}

fn hello() -> HelloRequest {
    HelloRequest {
        name: "admin-test".into(),
    }
}

/// Polls `check` every 20 ms until it yields a value, for at most `within`.
async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("{what} did not happen within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next Watch event matching `pick`, within `within`.
async fn next_event<T>(
    stream: &mut tonic::Streaming<pb::WatchUpdate>,
    within: Duration,
    mut pick: impl FnMut(&pb::event::Kind) -> Option<T>,
) -> Result<T> {
    tokio::time::timeout(within, async {
        while let Some(update) = stream.next().await {
            if let Some(pb::watch_update::Update::Event(pb::Event { kind: Some(k), .. })) =
                update?.update
                && let Some(found) = pick(&k)
            {
                return Ok(found);
            }
        }
        bail!("the watch stream ended")
    })
    .await
    .context("no matching watch event in time")?
}

/// The endpoint `address` of `target` in a snapshot.
fn endpoint_of(snapshot: &pb::Snapshot, address: SocketAddr) -> Option<pb::Endpoint> {
    let address = address.to_string();
    snapshot
        .targets
        .iter()
        .flat_map(|t| &t.clusters)
        .flat_map(|c| &c.endpoints)
        .find(|e| e.address == address)
        .cloned()
}
