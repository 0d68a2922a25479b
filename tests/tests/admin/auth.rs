//! Who may change things: bearer tokens, the non-loopback bind rule, mutual TLS.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_without_the_right_token_are_refused_and_change_nothing() -> Result<()> {
    let mesh = Mesh::builder().build()?;
    let (_admin, mut admin) = serve(&mesh).await?;
    let scope = || pb::fault_scope::Scope::ClientMethod("/helloworld.Greeter/SayHello".into());

    let anonymous = admin
        .set_fault(rule(scope(), Code::Unavailable, None))
        .await
        .expect_err("no token");
    assert_eq!(anonymous.code(), Code::Unauthenticated, "{anonymous:?}");
    let wrong = admin
        .set_fault(authed(rule(scope(), Code::Unavailable, None), "guess"))
        .await
        .expect_err("wrong token");
    assert_eq!(wrong.code(), Code::PermissionDenied, "{wrong:?}");
    let clear = admin
        .clear_fault(authed(pb::ClearFaultRequest { id: 1 }, "guess"))
        .await
        .expect_err("wrong token");
    assert_eq!(clear.code(), Code::PermissionDenied);
    assert!(mesh.faults().list().is_empty(), "nothing was installed");

    // Reads are open, and a bad request names its field.
    let listed = admin
        .list_faults(pb::ListFaultsRequest {})
        .await?
        .into_inner();
    assert!(listed.rules.is_empty());
    admin
        .get_snapshot(pb::GetSnapshotRequest::default())
        .await?;
    let mut bad = rule(scope(), Code::Unavailable, None);
    if let Some(spec) = bad.spec.as_mut() {
        spec.percentage = 150.0;
    }
    let invalid = admin.set_fault(authed(bad, TOKEN)).await.expect_err("bad");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert!(invalid.message().contains("spec.percentage"), "{invalid:?}");
    Ok(())
}

#[tokio::test]
async fn a_non_loopback_bind_without_a_token_is_refused() -> Result<()> {
    let mesh = Mesh::builder().build()?;
    let addr = SocketAddr::from(([0, 0, 0, 0], 0));
    match mesh.serve_admin(addr, AdminOptions::default()).await {
        Err(error @ AdminError::InsecureBind { .. }) => {
            let text = error.to_string();
            assert!(
                text.contains("0.0.0.0:0") && text.contains("MESHWORK_ADMIN_TOKEN"),
                "{text}"
            );
            Ok(())
        }
        Err(other) => bail!("refused for the wrong reason: {other}"),
        Ok(_) => bail!("a non-loopback admin endpoint without a token was started"),
    }
}

/// A CA, a server certificate for 127.0.0.1 / localhost and a client certificate, as PEM files in
/// a fresh temporary directory (removed on drop).
struct AdminPki {
    dir: std::path::PathBuf,
    ca: String,
    client_cert: String,
    client_key: String,
}

impl AdminPki {
    fn new(name: &str) -> Result<AdminPki> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let dir =
            std::env::temp_dir().join(format!("meshwork-admin-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let leaf = |sans: &[&str]| -> Result<(String, String)> {
            let key = KeyPair::generate()?;
            let sans = sans.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            let cert = CertificateParams::new(sans)?.signed_by(&key, &ca)?;
            Ok((cert.pem(), key.serialize_pem()))
        };
        let (server_cert, server_key) = leaf(&["127.0.0.1", "localhost"])?;
        let (client_cert, client_key) = leaf(&["operator.meshwork.test"])?;
        let pki = AdminPki {
            dir,
            ca: ca.pem(),
            client_cert,
            client_key,
        };
        std::fs::write(pki.path("ca.pem"), &pki.ca)?;
        std::fs::write(pki.path("server.pem"), server_cert)?;
        std::fs::write(pki.path("server.key"), server_key)?;
        Ok(pki)
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.join(name)
    }

    fn mutual(&self) -> AdminTls {
        AdminTls::new(self.path("server.pem"), self.path("server.key"))
            .with_client_ca(self.path("ca.pem"))
    }

    /// A TLS client trusting the CA, presenting the client certificate when `with_cert`.
    fn client_tls(&self, with_cert: bool) -> ClientTlsConfig {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .domain_name("localhost");
        if with_cert {
            tls.identity(Identity::from_pem(&self.client_cert, &self.client_key))
        } else {
            tls
        }
    }
}

impl Drop for AdminPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn tls_admin(addr: SocketAddr, tls: ClientTlsConfig) -> Result<AdminClient<Channel>> {
    let channel = Endpoint::from_shared(format!("https://{addr}"))?
        .tls_config(tls)?
        .connect_timeout(WAIT)
        .connect()
        .await?;
    Ok(AdminClient::new(channel))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_client_certificate_authorizes_mutations_without_a_token() -> Result<()> {
    let pki = AdminPki::new("mutual")?;
    let mesh = Mesh::builder().build()?;
    let options = AdminOptions {
        tls: Some(pki.mutual()),
        ..AdminOptions::default()
    };
    let handle = mesh.serve_admin(loopback(), options).await?;
    let addr = handle.local_addr();

    let mut operator = tls_admin(addr, pki.client_tls(true)).await?;
    let scope = pb::fault_scope::Scope::ClientMethod("/helloworld.Greeter/SayHello".into());
    let set = operator
        .set_fault(rule(scope, Code::Unavailable, Some(60_000)))
        .await?
        .into_inner();
    let id = set
        .rule
        .map(|r| r.id)
        .context("SetFault returns the rule")?;
    assert_eq!(mesh.faults().list().len(), 1);
    let listed = operator
        .list_faults(pb::ListFaultsRequest {})
        .await?
        .into_inner();
    assert_eq!(listed.rules.len(), 1);
    operator.get_info(pb::GetInfoRequest {}).await?;
    operator.clear_fault(pb::ClearFaultRequest { id }).await?;
    assert!(mesh.faults().list().is_empty());

    // Without a client certificate the handshake is refused: no call gets through.
    let anonymous = tokio::time::timeout(WAIT, async {
        let mut client = tls_admin(addr, pki.client_tls(false)).await?;
        client.get_info(pb::GetInfoRequest {}).await?;
        anyhow::Ok(())
    })
    .await
    .context("the refused client did not finish within the wait")?;
    assert!(
        anonymous.is_err(),
        "a client without a certificate was served"
    );
    // Plain text is not served either.
    let plain = tokio::time::timeout(WAIT, async {
        let mut client = AdminClient::connect(format!("http://{addr}")).await?;
        client.get_info(pb::GetInfoRequest {}).await?;
        anyhow::Ok(())
    })
    .await
    .context("the plain-text client did not finish within the wait")?;
    assert!(plain.is_err(), "a plain-text client was served");
    assert!(mesh.faults().list().is_empty());
    handle.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn mutual_tls_allows_a_non_loopback_bind_and_bad_pem_files_are_named() -> Result<()> {
    let pki = AdminPki::new("files")?;
    let mesh = Mesh::builder().build()?;
    let any = SocketAddr::from(([0, 0, 0, 0], 0));
    let options = AdminOptions {
        tls: Some(pki.mutual()),
        ..AdminOptions::default()
    };
    let handle = mesh.serve_admin(any, options).await?;
    handle.shutdown().await;

    let missing = pki.path("missing.pem");
    let options = AdminOptions {
        tls: Some(pki.mutual().with_client_ca(&missing)),
        ..AdminOptions::default()
    };
    match mesh.serve_admin(loopback(), options).await {
        Err(error @ AdminError::TlsFile { .. }) => {
            let text = error.to_string();
            assert!(
                text.contains("client CA") && text.contains(&missing.display().to_string()),
                "{text}"
            );
        }
        Err(other) => bail!("refused for the wrong reason: {other}"),
        Ok(_) => bail!("served with a missing client CA file"),
    }

    let garbage = pki.path("garbage.key");
    std::fs::write(&garbage, "not a key")?;
    let options = AdminOptions {
        tls: Some(AdminTls::new(pki.path("server.pem"), &garbage)),
        token: Some(TOKEN.into()),
        ..AdminOptions::default()
    };
    match mesh.serve_admin(loopback(), options).await {
        Err(error @ AdminError::NotPem { .. }) => {
            let text = error.to_string();
            assert!(
                text.contains("private key") && text.contains(&garbage.display().to_string()),
                "{text}"
            );
        }
        Err(other) => bail!("refused for the wrong reason: {other}"),
        Ok(_) => bail!("served with a key file that is not PEM"),
    }
    Ok(())
}
