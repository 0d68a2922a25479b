//! gRFC A36 xDS-enabled servers with A29 mTLS, end to end over loopback: the dev control plane
//! serves a server Listener (`server_listeners:`) requiring client certificates and a cluster
//! with `tls:`; a Meshwork server (`Mesh::xds_server`) and a Meshwork client each read their
//! certificates through a `file_watcher` provider over rcgen-minted temp files.
//!
//! Cases: mTLS RPCs succeed; a client without a certificate is refused; before its Listener
//! exists the server is NOT_SERVING (connections are closed without a byte), then serves once
//! the control plane adds it; an invalid update is NACKed naming the field while the server keeps
//! serving the last good Listener. Every wait is bounded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use meshwork::Mesh;
use meshwork::server::{ServingMode, XdsServer};
use meshwork_examples::xds_server::mesh::SERVER_LISTENER_NAME_TEMPLATE;
use meshwork_examples::xds_server::{Mesh as MeshFile, ServerHandle};
use meshwork_proto::envoy::config::listener::v3::{Listener, ListenerFilter};
use meshwork_proto::helloworld::greeter_server::{Greeter, GreeterServer};
use meshwork_proto::helloworld::{HelloReply, HelloRequest};
use meshwork_proto::type_url;
use meshwork_tests::bootstrap_for;
use meshwork_tests::channel::{greeter, mesh_options};
use meshwork_tests::pki::TestPki;
use meshwork_tests::start_control_plane;
use prost::Message;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tonic::service::Routes;
use tonic::{Request, Response, Status};

const TARGET: &str = "xds:///greeter:50051";
const SERVER_SAN: &str = "spiffe://cluster.local/ns/default/sa/greeter";
const SERVER_NODE: &str = "xds-server";
/// Bound on every wait.
const BOUND: Duration = Duration::from_secs(10);

/// The test CA with `server` and `client` identities written.
fn pki() -> Result<TestPki> {
    let pki = TestPki::new("server-xds")?;
    pki.write("server", &pki.leaf(SERVER_SAN)?)?;
    pki.write(
        "client",
        &pki.leaf("spiffe://cluster.local/ns/default/sa/client")?,
    )?;
    Ok(pki)
}

/// Counts served RPCs.
struct Greet(Arc<AtomicUsize>);

#[tonic::async_trait]
impl Greeter for Greet {
    async fn say_hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(Response::new(HelloReply {
            message: format!("hello {}", req.into_inner().name),
            backend: "xds-server".into(),
        }))
    }

    type SayHelloStreamStream = tokio_stream::Empty<Result<HelloReply, Status>>;

    async fn say_hello_stream(
        &self,
        _req: Request<HelloRequest>,
    ) -> Result<Response<Self::SayHelloStreamStream>, Status> {
        Err(Status::unimplemented("not used here"))
    }
}

/// A running xDS-enabled greeter server.
struct Server {
    addr: SocketAddr,
    name: String,
    mode: watch::Receiver<ServingMode>,
    served: Arc<AtomicUsize>,
    _stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    _mesh: Mesh,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(cp: &ServerHandle, pki: &TestPki) -> Result<Server> {
        let mut bootstrap = bootstrap_for(cp.local_addr(), SERVER_NODE)
            .with_certificate_provider("default", pki.provider("server", None));
        bootstrap.server_listener_resource_name_template =
            Some(SERVER_LISTENER_NAME_TEMPLATE.to_string());
        let mesh = Mesh::with_options(bootstrap, mesh_options(BOUND))?;
        let server: XdsServer = mesh.xds_server(([127, 0, 0, 1], 0).into()).await?;
        let (addr, name, mode) = (
            server.local_addr(),
            server.resource_name().to_string(),
            server.serving_mode(),
        );
        let served = Arc::new(AtomicUsize::new(0));
        let routes = Routes::new(GreeterServer::new(Greet(served.clone())));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(error) = server.serve(routes, shutdown).await {
                tracing::warn!(%error, "xDS server stopped");
            }
        });
        Ok(Server {
            addr,
            name,
            mode,
            served,
            _stop: stop,
            task,
            _mesh: mesh,
        })
    }

    async fn wait_mode(&mut self, serving: bool) -> Result<()> {
        let ok = tokio::time::timeout(
            BOUND,
            self.mode
                .wait_for(|m| matches!(m, ServingMode::Serving) == serving),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        if ok {
            return Ok(());
        }
        bail!(
            "server did not become {} within {BOUND:?}; mode: {:?}",
            if serving { "SERVING" } else { "NOT_SERVING" },
            *self.mode.borrow()
        )
    }
}

/// The mesh file: `greeter:50051` → the server at `addr` over TLS with `client_tls`, and
/// (when `listener`) the server's Listener requiring client certificates.
fn mesh_file(addr: SocketAddr, client_tls: &str, listener: bool) -> Result<MeshFile> {
    let server = if listener {
        format!(
            "server_listeners:\n  - address: \"{addr}\"\n    tls: {{ identity_instance: default, ca_instance: default, require_client_certificate: true }}\n"
        )
    } else {
        String::new()
    };
    let yaml = format!(
        r#"
services: [{{ host: greeter, port: 50051, cluster: greeter }}]
clusters:
  - name: greeter
    tls: {client_tls}
    localities: [{{ locality: {{ zone: z }}, endpoints: [{{ address: "{addr}" }}] }}]
{server}"#
    );
    Ok(MeshFile::from_yaml(&yaml)?)
}

const MTLS: &str = "{ ca_instance: default, identity_instance: default, san: [\"spiffe://cluster.local/ns/default/sa/greeter\"] }";

fn client_mesh(cp: &ServerHandle, pki: &TestPki, node: &str) -> Result<Mesh> {
    let bootstrap = bootstrap_for(cp.local_addr(), node)
        .with_certificate_provider("default", pki.provider("client", None));
    Ok(Mesh::with_options(bootstrap, mesh_options(BOUND))?)
}

/// One bounded `SayHello` from a fresh client of node `node`.
async fn call(cp: &ServerHandle, pki: &TestPki, node: &str) -> Result<Result<String, Status>> {
    let mesh = client_mesh(cp, pki, node)?;
    let mut client = greeter(&mesh, TARGET).await?;
    let mut request = Request::new(HelloRequest { name: "a".into() });
    request.set_timeout(Duration::from_secs(5));
    let outcome = tokio::time::timeout(BOUND, client.say_hello(request))
        .await
        .context("a SayHello did not end within the bound")?;
    Ok(outcome.map(|r| r.into_inner().message))
}

/// Control plane without the server Listener, and the server (NOT_SERVING) bound to its port.
async fn setup() -> Result<(TestPki, ServerHandle, Server)> {
    let pki = pki()?;
    let cp = start_control_plane(MeshFile::from_yaml("services: []")?).await?;
    let server = Server::start(&cp, &pki).await?;
    Ok((pki, cp, server))
}

#[tokio::test]
async fn mtls_clients_are_served_and_clients_without_a_certificate_refused() -> Result<()> {
    let (pki, cp, mut server) = setup().await?;
    cp.set_mesh(&mesh_file(server.addr, MTLS, true)?)?;
    server.wait_mode(true).await?;
    for i in 0..2 {
        let answer = call(&cp, &pki, &format!("mtls-client-{i}"))
            .await?
            .map_err(|s| anyhow::anyhow!("RPC over mTLS failed: {s:?}"))?;
        ensure!(answer == "hello a", "{answer}");
    }
    ensure!(server.served.load(Ordering::Relaxed) == 2);

    // The same cluster without a client identity: the server's handshake refuses it.
    cp.set_mesh(&mesh_file(server.addr, "{ ca_instance: default }", true)?)?;
    if let Ok(answer) = call(&cp, &pki, "no-cert-client").await? {
        bail!("a client without a certificate was served: {answer}");
    }
    ensure!(server.served.load(Ordering::Relaxed) == 2);
    Ok(())
}

#[tokio::test]
async fn not_serving_until_the_listener_exists() -> Result<()> {
    let (pki, cp, mut server) = setup().await?;
    ensure!(!matches!(*server.mode.borrow(), ServingMode::Serving));
    // Connections are accepted and closed at once, without a byte.
    let mut stream = TcpStream::connect(server.addr).await?;
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(BOUND, stream.read(&mut buf))
        .await
        .context("a NOT_SERVING server kept the connection open")?;
    ensure!(
        matches!(read, Ok(0) | Err(_)),
        "a NOT_SERVING server sent {read:?}"
    );
    // Clients that find it in the mesh fail.
    cp.set_mesh(&mesh_file(server.addr, MTLS, false)?)?;
    ensure!(
        call(&cp, &pki, "early-client").await?.is_err(),
        "a NOT_SERVING server answered"
    );
    ensure!(server.served.load(Ordering::Relaxed) == 0);

    cp.set_mesh(&mesh_file(server.addr, MTLS, true)?)?;
    server.wait_mode(true).await?;
    let answer = call(&cp, &pki, "late-client")
        .await?
        .map_err(|s| anyhow::anyhow!("RPC failed once SERVING: {s:?}"))?;
    ensure!(answer == "hello a");
    Ok(())
}

#[tokio::test]
async fn an_invalid_listener_is_nacked_and_the_last_good_one_keeps_serving() -> Result<()> {
    let (pki, cp, mut server) = setup().await?;
    cp.set_mesh(&mesh_file(server.addr, MTLS, true)?)?;
    server.wait_mode(true).await?;

    let good = cp
        .snapshot()
        .get(type_url::LISTENER, &server.name)
        .cloned()
        .context("the control plane has no server Listener")?;
    let mut bad = Listener::decode(good.value.as_slice())?;
    bad.listener_filters = vec![ListenerFilter {
        name: "envoy.filters.listener.tls_inspector".into(),
        ..Default::default()
    }];
    let version = cp.set_raw(
        type_url::LISTENER,
        &server.name,
        meshwork_proto::google::protobuf::Any {
            type_url: good.type_url.clone(),
            value: bad.encode_to_vec(),
        },
    );
    let nack = cp
        .wait_for_nack_of(SERVER_NODE, type_url::LISTENER, version, BOUND)
        .await?;
    ensure!(
        nack.message.contains("listener_filters") && nack.message.contains(&server.name),
        "NACK message: {}",
        nack.message
    );
    ensure!(matches!(*server.mode.borrow(), ServingMode::Serving));
    let answer = call(&cp, &pki, "after-nack-client")
        .await?
        .map_err(|s| anyhow::anyhow!("RPC failed after the NACK: {s:?}"))?;
    ensure!(answer == "hello a");
    Ok(())
}
