//! A test certificate authority for TLS tests: an rcgen-minted CA and leaf certificates (one URI
//! SAN each, e.g. a SPIFFE ID), written as PEM files into a temporary directory that is removed on
//! drop, and `file_watcher` certificate providers (gRFC A29) over those files.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Result;
use meshwork::bootstrap::CertificateProvider;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use serde_json::json;

/// A CA and the directory holding `ca.pem` and the identities written with [`TestPki::write`].
pub struct TestPki {
    ca: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
}

/// A certificate signed by the test CA, and its key.
pub struct Leaf {
    /// The certificate as PEM.
    pub cert: String,
    /// The private key as PEM.
    pub key: String,
    /// The certificate as DER (what a TLS peer presents).
    pub der: Vec<u8>,
}

impl TestPki {
    /// A new CA; its files go to a fresh temporary directory named after `prefix`.
    pub fn new(prefix: &str) -> Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "meshwork-{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        std::fs::write(dir.join("ca.pem"), ca.pem())?;
        Ok(Self { ca, dir })
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate as PEM.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A new leaf signed by the CA whose only SAN is the URI `uri`.
    pub fn leaf(&self, uri: &str) -> Result<Leaf> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.subject_alt_names = vec![SanType::URI(uri.try_into()?)];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.ca)?;
        Ok(Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().to_vec(),
        })
    }

    /// Writes `leaf` as `<name>.pem` and `<name>.key` (replacing earlier files).
    pub fn write(&self, name: &str, leaf: &Leaf) -> Result<()> {
        std::fs::write(self.dir.join(format!("{name}.pem")), &leaf.cert)?;
        std::fs::write(self.dir.join(format!("{name}.key")), &leaf.key)?;
        Ok(())
    }

    /// A `file_watcher` provider over `<name>.pem`, `<name>.key` and the CA, re-read every
    /// `refresh` (e.g. `"0.05s"`) when given.
    pub fn provider(&self, name: &str, refresh: Option<&str>) -> CertificateProvider {
        let path = |f: String| self.dir.join(f).display().to_string();
        let mut config = json!({
            "certificate_file": path(format!("{name}.pem")),
            "private_key_file": path(format!("{name}.key")),
            "ca_certificate_file": path("ca.pem".into()),
        });
        if let (Some(refresh), Some(map)) = (refresh, config.as_object_mut()) {
            map.insert("refresh_interval".into(), json!(refresh));
        }
        CertificateProvider {
            plugin_name: "file_watcher".into(),
            config,
        }
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
