//! gRFC A29 TLS from `MeshChannel` to endpoints, end to end over loopback: the dev control plane
//! serves a cluster with `tls:` (an `UpstreamTlsContext` naming certificate-provider instances),
//! the client's bootstrap has a `file_watcher` provider over temp files, and the greeter backend
//! is a tonic server that requires client certificates from the test CA and answers with the
//! name of the client certificate it saw.
//!
//! Cases: mTLS works and presents the identity; a SAN matcher that does not match fails RPCs
//! UNAVAILABLE naming the endpoint and the SANs; no identity → the server refuses; the
//! `xds_security` option off speaks plaintext whatever the cluster says; rotated certificate
//! files are used by the next connection after the refresh interval. Every wait is bounded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use meshwork::Mesh;
use meshwork::bootstrap::CertificateProvider;
use meshwork::telemetry::names::SUBCHANNEL_OPEN_CONNECTIONS;
use meshwork::telemetry::{OptionalLabel, Telemetry};
use meshwork_examples::xds_server::{Mesh as MeshFile, ServerHandle};
use meshwork_proto::helloworld::greeter_server::{Greeter, GreeterServer};
use meshwork_proto::helloworld::{HelloReply, HelloRequest};
use meshwork_tests::bootstrap_for;
use meshwork_tests::channel::{MeshGreeter, greeter, mesh_options};
use meshwork_tests::pki::{Leaf, TestPki};
use meshwork_tests::promtool::sample;
use meshwork_tests::start_control_plane;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Code, Request, Response, Status};

const TARGET: &str = "xds:///greeter:50051";
const SERVER_SAN: &str = "spiffe://cluster.local/ns/default/sa/greeter";
/// Bound on every wait for an RPC outcome.
const BOUND: Duration = Duration::from_secs(10);

/// The test CA, and the names of the certificates it signed (by DER, for the server's answers).
struct Pki {
    pki: TestPki,
    names: Arc<Mutex<HashMap<Vec<u8>, String>>>,
}

impl Pki {
    fn new() -> Result<Pki> {
        Ok(Pki {
            pki: TestPki::new("channel-tls")?,
            names: Arc::default(),
        })
    }

    /// A leaf signed by the CA whose only SAN is the URI `spiffe`; remembered as `name`.
    fn leaf(&self, name: &str, spiffe: &str) -> Result<Leaf> {
        let leaf = self.pki.leaf(spiffe)?;
        let mut names = self.names.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        names.insert(leaf.der.clone(), name.to_string());
        Ok(leaf)
    }

    /// Writes `leaf` as the client identity files (replacing any earlier one).
    fn write_client(&self, leaf: &Leaf) -> Result<()> {
        self.pki.write("client", leaf)
    }

    /// The `file_watcher` provider over the client files.
    fn provider(&self, refresh: &str) -> CertificateProvider {
        self.pki.provider("client", Some(refresh))
    }
}

/// Answers `SayHello` with the name of the client certificate the TLS session carried.
struct Greet {
    names: Arc<Mutex<HashMap<Vec<u8>, String>>>,
    served: Arc<AtomicUsize>,
}

#[tonic::async_trait]
impl Greeter for Greet {
    async fn say_hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        self.served.fetch_add(1, Ordering::Relaxed);
        let client = req
            .peer_certs()
            .and_then(|chain| chain.first().map(|c| c.as_ref().to_vec()))
            .map(|der| match self.names.lock() {
                Ok(names) => names.get(&der).cloned().unwrap_or_else(|| "unknown".into()),
                Err(_) => "poisoned".into(),
            })
            .unwrap_or_else(|| "plaintext".into());
        Ok(Response::new(HelloReply {
            message: client,
            backend: "tls-greeter".into(),
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

/// A greeter backend; `tls` = (server identity, required client CA). `max_age` closes each
/// connection after that long, so clients reconnect.
struct Backend {
    addr: SocketAddr,
    served: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn backend(pki: &Pki, tls: Option<&Leaf>, max_age: Option<Duration>) -> Result<Backend> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let served = Arc::new(AtomicUsize::new(0));
    let mut builder = Server::builder();
    if let Some(leaf) = tls {
        let config = ServerTlsConfig::new()
            .identity(Identity::from_pem(&leaf.cert, &leaf.key))
            .client_ca_root(Certificate::from_pem(pki.pki.ca_pem()));
        builder = builder.tls_config(config)?;
    }
    if let Some(age) = max_age {
        builder = builder.max_connection_age(age);
    }
    let service = GreeterServer::new(Greet {
        names: pki.names.clone(),
        served: served.clone(),
    });
    let server = builder
        .add_service(service)
        .serve_with_incoming(TcpListenerStream::new(listener));
    let task = tokio::spawn(async move {
        if let Err(error) = server.await {
            tracing::warn!(%error, "tls greeter stopped");
        }
    });
    Ok(Backend { addr, served, task })
}

/// The dev control plane serving `greeter:50051` → cluster `greeter` at `addr` with `tls`.
async fn control_plane(addr: SocketAddr, tls: &str) -> Result<ServerHandle> {
    let yaml = format!(
        r#"
services: [{{ host: greeter, port: 50051, cluster: greeter }}]
clusters:
  - name: greeter
    tls: {tls}
    localities: [{{ locality: {{ zone: z }}, endpoints: [{{ address: "{addr}" }}] }}]
"#
    );
    start_control_plane(MeshFile::from_yaml(&yaml)?).await
}

/// A mesh whose bootstrap defines instance `default` as `pki`'s file watcher.
fn mesh(server: &ServerHandle, pki: &Pki, refresh: &str, xds_security: bool) -> Result<Mesh> {
    let bootstrap = bootstrap_for(server.local_addr(), "tls-client")
        .with_certificate_provider("default", pki.provider(refresh));
    let mut options = mesh_options(Duration::from_secs(10));
    options.channel.xds_security = xds_security;
    // gRFC A94 open connections with their security level, to see which kind was made.
    let telemetry = Telemetry::builder()
        .enable_metric(SUBCHANNEL_OPEN_CONNECTIONS)?
        .optional_label(OptionalLabel::SecurityLevel)
        .build()?;
    Ok(Mesh::builder()
        .bootstrap(bootstrap)
        .options(options)
        .telemetry(telemetry)
        .build()?)
}

/// The `grpc.subchannel.open_connections` value with `grpc.security_level="<level>"`.
fn open_connections(mesh: &Mesh, level: &str) -> Option<f64> {
    let text = mesh.telemetry().prometheus_text();
    let level = format!("grpc_security_level=\"{level}\"");
    sample(&text, "grpc_subchannel_open_connections", &[&level])
}

/// One `SayHello`, bounded: the client certificate name the server saw, or the status.
async fn call(client: &mut MeshGreeter) -> Result<std::result::Result<String, Status>> {
    let mut request = Request::new(HelloRequest { name: "tls".into() });
    request.set_timeout(Duration::from_secs(5));
    let outcome = tokio::time::timeout(BOUND, client.say_hello(request))
        .await
        .context("a SayHello did not end within the bound")?;
    Ok(outcome.map(|r| r.into_inner().message))
}

/// Setup shared by the cases: a CA, a TLS backend with the SPIFFE server certificate, client
/// certificate `client-a` in the provider files.
async fn tls_setup(max_age: Option<Duration>) -> Result<(Pki, Backend)> {
    let pki = Pki::new()?;
    let server = pki.leaf("server", SERVER_SAN)?;
    pki.write_client(&pki.leaf("client-a", "spiffe://cluster.local/ns/default/sa/client")?)?;
    let backend = backend(&pki, Some(&server), max_age).await?;
    Ok((pki, backend))
}

#[tokio::test]
async fn rpcs_succeed_over_mutual_tls_with_a_matching_san() -> Result<()> {
    let (pki, backend) = tls_setup(None).await?;
    let tls =
        format!("{{ ca_instance: default, identity_instance: default, san: [\"{SERVER_SAN}\"] }}");
    let cp = control_plane(backend.addr, &tls).await?;
    let mesh = mesh(&cp, &pki, "600s", true)?;
    let mut client = greeter(&mesh, TARGET).await?;
    for _ in 0..3 {
        let seen = call(&mut client)
            .await?
            .map_err(|s| anyhow::anyhow!("RPC failed: {s:?}"))?;
        ensure!(
            seen == "client-a",
            "the server saw client certificate `{seen}`"
        );
    }
    ensure!(backend.served.load(Ordering::Relaxed) == 3);
    let secure = open_connections(&mesh, "privacy_and_integrity");
    ensure!(secure == Some(1.0), "open TLS connections: {secure:?}");
    ensure!(open_connections(&mesh, "none").is_none());
    Ok(())
}

#[tokio::test]
async fn a_san_mismatch_fails_rpcs_unavailable_naming_endpoint_and_sans() -> Result<()> {
    let (pki, backend) = tls_setup(None).await?;
    let wanted = "spiffe://cluster.local/ns/default/sa/other";
    let tls =
        format!("{{ ca_instance: default, identity_instance: default, san: [\"{wanted}\"] }}");
    let cp = control_plane(backend.addr, &tls).await?;
    let mesh = mesh(&cp, &pki, "600s", true)?;
    let mut client = greeter(&mesh, TARGET).await?;
    let status = match call(&mut client).await? {
        Ok(seen) => bail!("the RPC succeeded (client `{seen}`) despite the SAN mismatch"),
        Err(status) => status,
    };
    ensure!(status.code() == Code::Unavailable, "{status:?}");
    let message = status.message();
    for needle in [
        &format!("endpoint {}", backend.addr),
        &format!("URI:{SERVER_SAN}"),
        &format!("exact \"{wanted}\""),
        &"match none of the cluster's match_subject_alt_names".to_string(),
    ] {
        ensure!(
            message.contains(needle.as_str()),
            "`{needle}` missing from: {message}"
        );
    }
    ensure!(backend.served.load(Ordering::Relaxed) == 0);
    Ok(())
}

#[tokio::test]
async fn without_an_identity_the_mtls_server_refuses() -> Result<()> {
    let (pki, backend) = tls_setup(None).await?;
    let cp = control_plane(backend.addr, "{ ca_instance: default }").await?;
    let mesh = mesh(&cp, &pki, "600s", true)?;
    let mut client = greeter(&mesh, TARGET).await?;
    for _ in 0..2 {
        if let Ok(seen) = call(&mut client).await? {
            bail!("the server answered (client `{seen}`) without a client certificate");
        }
    }
    ensure!(backend.served.load(Ordering::Relaxed) == 0);
    Ok(())
}

#[tokio::test]
async fn with_xds_security_off_the_client_speaks_plaintext() -> Result<()> {
    let (pki, tls_backend) = tls_setup(None).await?;
    let tls = "{ ca_instance: default, identity_instance: default }";
    // The TLS server refuses a plaintext client.
    let cp = control_plane(tls_backend.addr, tls).await?;
    let mesh_off = mesh(&cp, &pki, "600s", false)?;
    let mut client = greeter(&mesh_off, TARGET).await?;
    if let Ok(seen) = call(&mut client).await? {
        bail!("a plaintext client got an answer (`{seen}`) from the TLS server");
    }
    ensure!(tls_backend.served.load(Ordering::Relaxed) == 0);
    // A plaintext server behind the same TLS cluster config answers it.
    let plain = backend(&pki, None, None).await?;
    let cp = control_plane(plain.addr, tls).await?;
    let mesh_off = mesh(&cp, &pki, "600s", false)?;
    let mut client = greeter(&mesh_off, TARGET).await?;
    let seen = call(&mut client)
        .await?
        .map_err(|s| anyhow::anyhow!("RPC failed: {s:?}"))?;
    ensure!(seen == "plaintext", "the server saw `{seen}`");
    let plain = open_connections(&mesh_off, "none");
    ensure!(plain == Some(1.0), "open plaintext connections: {plain:?}");
    Ok(())
}

#[tokio::test]
async fn rotated_certificate_files_are_used_by_the_next_connection() -> Result<()> {
    // The server closes every connection after 300 ms, so the client keeps reconnecting.
    let (pki, backend) = tls_setup(Some(Duration::from_millis(300))).await?;
    let tls =
        format!("{{ ca_instance: default, identity_instance: default, san: [\"{SERVER_SAN}\"] }}");
    let cp = control_plane(backend.addr, &tls).await?;
    let mesh = mesh(&cp, &pki, "0.2s", true)?;
    let mut client = greeter(&mesh, TARGET).await?;
    let seen = call(&mut client)
        .await?
        .map_err(|s| anyhow::anyhow!("RPC failed: {s:?}"))?;
    ensure!(seen == "client-a", "the server saw `{seen}`");

    pki.write_client(&pki.leaf("client-b", "spiffe://cluster.local/ns/default/sa/client")?)?;
    let deadline = Instant::now() + BOUND;
    let mut last = String::new();
    while Instant::now() < deadline {
        // Connections closed by the server may fail an RPC now and then; only the name counts.
        if let Ok(seen) = call(&mut client).await? {
            if seen == "client-b" {
                return Ok(());
            }
            last = seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await; // poll interval, not a settle
    }
    bail!(
        "after {BOUND:?} the server still saw client certificate `{last}`, not the rotated `client-b`"
    )
}
