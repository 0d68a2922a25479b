//! psm-interop's `security_test` mTLS and negative cases on loopback: `xds-interop-server
//! --secure_mode true` processes (TestService behind an xDS-enabled server, gRFC A36) whose
//! server Listeners require client certificates (A29), and `xds-interop-client --secure_mode
//! true` with the cluster's `UpstreamTlsContext`. Both read rcgen-minted certificates through a
//! `file_watcher` provider named `default` in their bootstraps (as Istio's agent writes them).
//!
//! - mTLS: identity + CA + SAN on the client → every RPC reaches the backends.
//! - no client certificate: the servers refuse the handshake → every RPC fails.

#[macro_use]
#[path = "interop_conformance/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use harness::{ClientKind, connect, control_plane, free_port, start_client_with};
use meshwork_examples::xds_server::ServerHandle;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use serde_json::json;
use tokio::process::{Child, Command};

const TARGET: &str = "xds:///server.example.com:80";
const SERVER_SAN: &str = "spiffe://cluster.local/ns/interop/sa/server";
const CONVERGE: Duration = Duration::from_secs(30);

/// A CA and `server.*` / `client.*` leaves in a temp directory; removed on drop.
struct Certs(PathBuf);

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Certs {
    fn mint() -> Result<Certs> {
        let dir = std::env::temp_dir().join(format!(
            "meshwork-interop-security-{}-{}",
            std::process::id(),
            free_port()?
        ));
        std::fs::create_dir_all(&dir)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        std::fs::write(dir.join("ca.pem"), ca.pem())?;
        for (who, san) in [
            ("server", SERVER_SAN),
            ("client", "spiffe://cluster.local/ns/interop/sa/client"),
        ] {
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params.subject_alt_names = vec![SanType::URI(san.try_into()?)];
            let key = KeyPair::generate()?;
            let cert = params.signed_by(&key, &ca)?;
            std::fs::write(dir.join(format!("{who}.pem")), cert.pem())?;
            std::fs::write(dir.join(format!("{who}.key")), key.serialize_pem())?;
        }
        Ok(Certs(dir))
    }

    /// `certificate_providers` with instance `default` over `who`'s files.
    fn providers(&self, who: &str) -> serde_json::Value {
        let path = |f: String| self.0.join(f).display().to_string();
        json!({ "default": { "plugin_name": "file_watcher", "config": {
            "certificate_file": path(format!("{who}.pem")),
            "private_key_file": path(format!("{who}.key")),
            "ca_certificate_file": path("ca.pem".into()),
        }}})
    }
}

/// A secure `xds-interop-server` process; killed on drop.
struct SecureBackend {
    port: u16,
    _child: Child,
}

async fn start_secure_backend(
    cp: &ServerHandle,
    certs: &Certs,
    name: &str,
) -> Result<SecureBackend> {
    let (port, maintenance_port) = (free_port()?, free_port()?);
    let mut bootstrap: serde_json::Value = serde_json::from_str(&cp.bootstrap_json(name))?;
    bootstrap["certificate_providers"] = certs.providers("server");
    let path: PathBuf = certs.0.join(format!("{name}-bootstrap.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&bootstrap)?)?;
    let child = spawn(&path, name, port, maintenance_port)?;
    connect(maintenance_port, Duration::from_secs(10)).await?;
    Ok(SecureBackend {
        port,
        _child: child,
    })
}

fn spawn(bootstrap: &Path, name: &str, port: u16, maintenance_port: u16) -> Result<Child> {
    Command::new(env!("CARGO_BIN_EXE_xds-interop-server"))
        .args(["--port", &port.to_string()])
        .args(["--maintenance_port", &maintenance_port.to_string()])
        .args(["--server_id", name, "--host_name_override", name])
        .args(["--secure_mode", "true"])
        .env("GRPC_XDS_BOOTSTRAP", bootstrap)
        .env_remove("GRPC_XDS_BOOTSTRAP_CONFIG")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("spawn xds-interop-server --secure_mode true")
}

/// The mesh: the target → both backends with `client_tls`, and each backend's server Listener
/// (`0.0.0.0:<port>`, as it binds) requiring client certificates.
fn mesh(backends: &[SecureBackend], client_tls: &str) -> String {
    let mut yaml = format!(
        "services: [{{ host: server.example.com, port: 80, cluster: c }}]\nclusters:\n- name: c\n  tls: {client_tls}\n  localities:\n  - locality: {{zone: local}}\n    endpoints:\n"
    );
    for b in backends {
        yaml.push_str(&format!("    - address: 127.0.0.1:{}\n", b.port));
    }
    yaml.push_str("server_listeners:\n");
    for b in backends {
        yaml.push_str(&format!(
            "- address: \"0.0.0.0:{}\"\n  tls: {{ identity_instance: default, ca_instance: default, require_client_certificate: true }}\n",
            b.port
        ));
    }
    yaml
}

async fn setup(client_tls: &str) -> Result<(Certs, ServerHandle, Vec<SecureBackend>)> {
    let certs = Certs::mint()?;
    let cp = control_plane("services: []").await?;
    let mut backends = Vec::new();
    for name in ["backend-0", "backend-1"] {
        backends.push(start_secure_backend(&cp, &certs, name).await?);
    }
    cp.set_mesh(&meshwork_examples::xds_server::Mesh::from_yaml(&mesh(
        &backends, client_tls,
    ))?)?;
    Ok((certs, cp, backends))
}

/// Our `xds-interop-client` in `--secure_mode true` with the client identity's providers.
async fn secure_client(certs: &Certs, cp: &ServerHandle) -> Result<harness::Client> {
    start_client_with(
        &ClientKind::Meshwork,
        cp,
        TARGET,
        &["--secure_mode", "true"],
        &[("certificate_providers", certs.providers("client"))],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_rpcs_reach_every_secure_backend() -> Result<()> {
    let tls =
        format!("{{ ca_instance: default, identity_instance: default, san: [\"{SERVER_SAN}\"] }}");
    let (certs, cp, _backends) = setup(&tls).await?;
    let client = secure_client(&certs, &cp).await?;
    client
        .wait_for_peers(&["backend-0".into(), "backend-1".into()], CONVERGE)
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_a_certificate_cannot_reach_secure_backends() -> Result<()> {
    let (certs, cp, _backends) = setup("{ ca_instance: default }").await?;
    let client = secure_client(&certs, &cp).await?;
    let stats = client.stats(50, 10).await?;
    ensure!(
        stats.rpcs_by_peer.is_empty(),
        "a client without a certificate reached {:?}",
        stats.rpcs_by_peer
    );
    if stats.num_failures < 50 {
        bail!("only {} of 50 RPCs failed: {stats:?}", stats.num_failures);
    }
    Ok(())
}
