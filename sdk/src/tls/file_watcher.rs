//! The `file_watcher` certificate-provider plugin (gRFC A29): PEM files read at start and again
//! every `refresh_interval`, published through a `watch` so each new connection takes the latest
//! material. A reload that fails keeps the last good material (and logs why); a first load that
//! fails is what connections see until a later reload succeeds. Time is tokio time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::TlsError;
use crate::bootstrap::parse_json_duration;

/// Default `refresh_interval` of a `file_watcher` instance: ten minutes.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(600);

/// A validated `file_watcher` plugin config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileWatcherConfig {
    /// PEM certificate chain of this client's identity (set together with `private_key_file`).
    pub certificate_file: Option<PathBuf>,
    /// PEM private key of the identity.
    pub private_key_file: Option<PathBuf>,
    /// PEM CA certificates used to verify peers.
    pub ca_certificate_file: Option<PathBuf>,
    /// How often the files are read again; never zero.
    pub refresh_interval: Duration,
}

impl FileWatcherConfig {
    /// Reads the plugin's JSON `config`; the error says which field is wrong and what it expects.
    pub fn from_json(config: &serde_json::Value) -> Result<Self, String> {
        let empty = serde_json::Map::new();
        let object = match config {
            serde_json::Value::Object(object) => object,
            serde_json::Value::Null => &empty,
            other => return Err(format!("expected a JSON object, got `{other}`")),
        };
        let path = |field: &str| -> Result<Option<PathBuf>, String> {
            match object.get(field) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(Some(PathBuf::from(s))),
                Some(other) => Err(format!(
                    "`{field}` must be a non-empty file path string, got `{other}`"
                )),
            }
        };
        let certificate_file = path("certificate_file")?;
        let private_key_file = path("private_key_file")?;
        let ca_certificate_file = path("ca_certificate_file")?;
        match (&certificate_file, &private_key_file) {
            (Some(_), None) => {
                return Err(
                    "`certificate_file` is set without `private_key_file`; set both or neither"
                        .into(),
                );
            }
            (None, Some(_)) => {
                return Err(
                    "`private_key_file` is set without `certificate_file`; set both or neither"
                        .into(),
                );
            }
            _ => {}
        }
        if certificate_file.is_none() && ca_certificate_file.is_none() {
            return Err(
                "neither `certificate_file`/`private_key_file` nor `ca_certificate_file` is set; set at least one"
                    .into(),
            );
        }
        let refresh_interval = match object.get("refresh_interval") {
            None | Some(serde_json::Value::Null) => DEFAULT_REFRESH_INTERVAL,
            Some(serde_json::Value::String(s)) => match parse_json_duration(s) {
                Some(d) if !d.is_zero() => d,
                _ => {
                    return Err(format!(
                        "`refresh_interval` is `{s}`; expected a positive JSON duration such as \"600s\""
                    ));
                }
            },
            Some(other) => {
                return Err(format!(
                    "`refresh_interval` must be a JSON duration string such as \"600s\", got `{other}`"
                ));
            }
        };
        Ok(FileWatcherConfig {
            certificate_file,
            private_key_file,
            ca_certificate_file,
            refresh_interval,
        })
    }
}

/// What one load of the files produced.
#[derive(Debug)]
pub(super) struct Material {
    /// CA certificates, when the config names a CA file.
    pub(super) roots: Option<Arc<RootCertStore>>,
    /// Certificate chain and key, when the config names them.
    pub(super) identity: Option<Arc<Identity>>,
}

/// A certificate chain and its private key.
#[derive(Debug)]
pub(super) struct Identity {
    pub(super) chain: Vec<CertificateDer<'static>>,
    pub(super) key: PrivateKeyDer<'static>,
}

type Loaded = Option<Result<Arc<Material>, TlsError>>;

/// A running `file_watcher` instance; dropping it stops its reload task.
#[derive(Debug)]
pub(super) struct FileWatcher {
    instance: String,
    current: watch::Receiver<Loaded>,
    task: AbortHandle,
}

impl Drop for FileWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FileWatcher {
    /// Starts the reload task on the current tokio runtime; the first load begins at once.
    pub(super) fn start(instance: &str, config: FileWatcherConfig) -> Self {
        let (tx, current) = watch::channel(None);
        let task = tokio::spawn(reload(instance.to_string(), config, tx)).abort_handle();
        FileWatcher {
            instance: instance.to_string(),
            current,
            task,
        }
    }

    /// The latest material, waiting for the first load if it is still running.
    pub(super) async fn current(&self) -> Result<Arc<Material>, TlsError> {
        let mut rx = self.current.clone();
        let loaded = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| TlsError::Stopped {
                instance: self.instance.clone(),
            })?;
        match &*loaded {
            Some(result) => result.clone(),
            None => Err(TlsError::Stopped {
                instance: self.instance.clone(),
            }),
        }
    }
}

/// Loads now and every `refresh_interval`; keeps the last good material when a reload fails.
async fn reload(instance: String, config: FileWatcherConfig, tx: watch::Sender<Loaded>) {
    let mut ticks = tokio::time::interval(config.refresh_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match load(&instance, &config).await {
            Ok(material) => {
                tx.send_replace(Some(Ok(Arc::new(material))));
            }
            Err(error) => {
                let had_good = matches!(&*tx.borrow(), Some(Ok(_)));
                if had_good {
                    tracing::warn!(%instance, %error, "certificate reload failed; keeping the last good certificates");
                } else {
                    tracing::warn!(%instance, %error, "certificate load failed");
                    tx.send_replace(Some(Err(error)));
                }
            }
        }
    }
}

/// Reads and parses every file the config names.
pub(super) async fn load(instance: &str, config: &FileWatcherConfig) -> Result<Material, TlsError> {
    let roots = match &config.ca_certificate_file {
        Some(path) => Some(Arc::new(load_roots(instance, path).await?)),
        None => None,
    };
    let identity = match (&config.certificate_file, &config.private_key_file) {
        (Some(cert), Some(key)) => Some(Arc::new(load_identity(instance, cert, key).await?)),
        _ => None,
    };
    Ok(Material { roots, identity })
}

async fn read(instance: &str, role: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    tokio::fs::read(path).await.map_err(|e| TlsError::Read {
        instance: instance.to_string(),
        role,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn certificates(
    instance: &str,
    role: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |problem: String| TlsError::Pem {
        instance: instance.to_string(),
        role,
        path: path.to_path_buf(),
        problem,
        expected: "one or more `-----BEGIN CERTIFICATE-----` blocks",
    };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(format!("is not valid PEM ({e})")))?;
    if certs.is_empty() {
        return Err(pem_error("holds no certificate".to_string()));
    }
    Ok(certs)
}

async fn load_roots(instance: &str, path: &Path) -> Result<RootCertStore, TlsError> {
    const ROLE: &str = "ca_certificate_file";
    let pem = read(instance, ROLE, path).await?;
    let mut roots = RootCertStore::empty();
    for cert in certificates(instance, ROLE, path, &pem)? {
        roots.add(cert).map_err(|e| TlsError::Pem {
            instance: instance.to_string(),
            role: ROLE,
            path: path.to_path_buf(),
            problem: format!("holds a certificate that is not a usable CA ({e})"),
            expected: "CA certificates in PEM",
        })?;
    }
    Ok(roots)
}

async fn load_identity(instance: &str, cert: &Path, key: &Path) -> Result<Identity, TlsError> {
    const ROLE: &str = "private_key_file";
    let chain_pem = read(instance, "certificate_file", cert).await?;
    let chain = certificates(instance, "certificate_file", cert, &chain_pem)?;
    let key_pem = read(instance, ROLE, key).await?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Pem {
        instance: instance.to_string(),
        role: ROLE,
        path: key.to_path_buf(),
        problem: format!("holds no usable private key ({e})"),
        expected: "one PKCS#8, PKCS#1 or SEC1 `-----BEGIN ... PRIVATE KEY-----` block",
    })?;
    Ok(Identity { chain, key })
}

#[cfg(test)]
mod tests;
