//! TLS toward the control plane (gRFC A65), over loopback against the fake ADS server with
//! certificates minted here by rcgen: plain TLS, mutual TLS, a wrong CA, and unusable files.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use super::*;
use crate::xds::error::WatchError;
use crate::xds::resource::ResourceKind;
use crate::xds::test_fixtures as fx;
use crate::xds::test_server::{FakeServer, bounded, fast_options};
use crate::xds::{ConnectionState, WatchEvent, XdsClient};

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all as PEM files.
struct Pki {
    dir: PathBuf,
    server: Identity,
    ca_pem: String,
}

impl Pki {
    fn new() -> Pki {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "meshwork-xds-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key"))
            .expect("ca cert");
        let leaf = |san: &str| {
            let key = KeyPair::generate().expect("leaf key");
            let cert = CertificateParams::new(vec![san.to_string()])
                .expect("leaf params")
                .signed_by(&key, &ca)
                .expect("leaf cert");
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf("127.0.0.1");
        let (client_cert, client_key) = leaf("client.meshwork.test");
        let pki = Pki {
            server: Identity::from_pem(server_cert, server_key),
            ca_pem: ca.pem(),
            dir,
        };
        pki.write("ca.pem", &pki.ca_pem);
        pki.write("client.pem", &client_cert);
        pki.write("client.key", &client_key);
        pki
    }

    fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.dir.join(name), contents).expect("write pem");
    }

    fn path(&self, name: &str) -> Option<String> {
        Some(self.dir.join(name).to_string_lossy().into_owned())
    }

    fn creds(&self, ca: &str, mtls: bool) -> ChannelCreds {
        ChannelCreds::Tls {
            ca_certificate_file: self.path(ca),
            certificate_file: if mtls { self.path("client.pem") } else { None },
            private_key_file: if mtls { self.path("client.key") } else { None },
            refresh_interval: crate::bootstrap::DEFAULT_TLS_REFRESH_INTERVAL,
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn tls_client(server: &FakeServer, creds: ChannelCreds) -> Result<XdsClient, ClientError> {
    let mut b = fx::bootstrap(&server.addr.to_string(), &[]);
    b.xds_servers[0].channel_creds = creds;
    XdsClient::with_options(&b, fast_options())
}

/// The client fetches a listener over the (m)TLS stream.
async fn fetch_over(server: &mut FakeServer, client: &XdsClient) {
    let mut w = client.watch(ResourceKind::Listener, "a");
    let mut stream = server.next_stream().await;
    assert_eq!(stream.next_request().await.resource_names, ["a"]);
    stream
        .send(fx::response(
            ResourceKind::Listener,
            "v1",
            "n1",
            vec![fx::listener("a", "r")],
        ))
        .await;
    let event = bounded(w.next()).await;
    assert!(matches!(event, Some(WatchEvent::Changed(_))), "{event:?}");
    assert_eq!(client.connection_status().state, ConnectionState::Connected);
}

#[tokio::test]
async fn plain_tls_with_a_ca_file_fetches_resources() {
    let pki = Pki::new();
    let mut server =
        FakeServer::start_tls(ServerTlsConfig::new().identity(pki.server.clone())).await;
    let client = tls_client(&server, pki.creds("ca.pem", false)).expect("client");
    fetch_over(&mut server, &client).await;
}

#[tokio::test]
async fn mutual_tls_presents_the_client_certificate() {
    let pki = Pki::new();
    let tls = ServerTlsConfig::new()
        .identity(pki.server.clone())
        .client_ca_root(Certificate::from_pem(&pki.ca_pem));
    let mut server = FakeServer::start_tls(tls.clone()).await;
    let client = tls_client(&server, pki.creds("ca.pem", true)).expect("client");
    fetch_over(&mut server, &client).await;

    // The same server refuses a client without a certificate.
    let anonymous = tls_client(&server, pki.creds("ca.pem", false)).expect("client");
    let mut w = anonymous.watch(ResourceKind::Listener, "a");
    match bounded(w.next()).await {
        Some(WatchEvent::Error(WatchError::Unreachable { .. })) => {}
        other => panic!("expected an unreachable error without a client cert, got {other:?}"),
    }
}

#[tokio::test]
async fn a_wrong_ca_fails_with_a_visible_connection_error() {
    let pki = Pki::new();
    let other = Pki::new();
    pki.write("other-ca.pem", &other.ca_pem);
    let server = FakeServer::start_tls(ServerTlsConfig::new().identity(pki.server.clone())).await;
    let client = tls_client(&server, pki.creds("other-ca.pem", false)).expect("client");
    let mut w = client.watch(ResourceKind::Listener, "a");
    match bounded(w.next()).await {
        Some(WatchEvent::Error(WatchError::Unreachable { .. })) => {}
        other => panic!("expected an unreachable error, got {other:?}"),
    }
    let status = client.connection_status();
    assert_ne!(status.state, ConnectionState::Connected);
    let error = status.last_error.unwrap_or_default();
    assert!(
        error.contains("connect failed") && error.to_lowercase().contains("certificate"),
        "the error names the certificate problem: {error}"
    );

    // Without a CA file the system roots are used, which do not know this test CA either.
    let system = tls_client(&server, ChannelCreds::tls(None)).expect("system roots");
    let mut w = system.watch(ResourceKind::Listener, "a");
    assert!(matches!(
        bounded(w.next()).await,
        Some(WatchEvent::Error(WatchError::Unreachable { .. }))
    ));
    let error = system.connection_status().last_error.unwrap_or_default();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
}

#[tokio::test]
async fn unreadable_or_non_pem_files_name_the_file_and_field() {
    let pki = Pki::new();
    pki.write("garbage.pem", "not a certificate");
    let server = XdsServer::insecure("127.0.0.1:1");
    let creds = |ca: &str| server.clone().with_channel_creds(pki.creds(ca, false));
    match ServerChannel::new(&creds("missing.pem"), Duration::from_secs(1)) {
        Err(ClientError::CredentialsFile { field, path, .. }) => {
            assert_eq!(field, "ca_certificate_file");
            assert!(path.ends_with("missing.pem"));
        }
        other => panic!("expected a credentials file error, got {other:?}"),
    }
    let err =
        ServerChannel::new(&creds("garbage.pem"), Duration::from_secs(1)).expect_err("not PEM");
    assert!(err.to_string().contains("no PEM block"), "{err}");

    let mut mtls = pki.creds("ca.pem", true);
    if let ChannelCreds::Tls {
        private_key_file, ..
    } = &mut mtls
    {
        *private_key_file = pki.path("nope.key");
    }
    let err = ServerChannel::new(
        &server.clone().with_channel_creds(mtls),
        Duration::from_secs(1),
    )
    .expect_err("missing key");
    assert!(
        matches!(
            err,
            ClientError::CredentialsFile {
                field: "private_key_file",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn uris_map_to_http_or_https_endpoints() {
    let plain = endpoint_for(
        &XdsServer::insecure("dns:///cp:18000"),
        Duration::from_secs(1),
    )
    .expect("plain");
    assert_eq!(plain.uri().to_string(), "http://cp:18000/");
    let unix = endpoint_for(&XdsServer::insecure("unix:///x"), Duration::from_secs(1));
    assert!(matches!(unix, Err(ClientError::InvalidServerUri { .. })));
    let google = XdsServer::insecure("cp:1").with_channel_creds(ChannelCreds::GoogleDefault);
    assert!(matches!(
        endpoint_for(&google, Duration::from_secs(1)),
        Err(ClientError::UnsupportedCredentials {
            creds: "google_default",
            ..
        })
    ));
}
