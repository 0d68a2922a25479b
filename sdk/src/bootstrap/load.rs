//! Where the bootstrap comes from: a file, or the environment variables `GRPC_XDS_BOOTSTRAP`
//! (a file path) and `GRPC_XDS_BOOTSTRAP_CONFIG` (the JSON itself). When both are set, the file
//! wins (grpc_xds_bootstrap_format.md).
//!
//! Reads local files only; no network I/O. Does not cache: each call reads again. Does not read
//! Java's system properties (`io.grpc.xds.bootstrap`), which have no Rust equivalent.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use super::Bootstrap;
use super::error::{BootstrapError, BootstrapSource};

/// Name of the environment variable holding the bootstrap file's path.
pub const BOOTSTRAP_FILE_ENV: &str = "GRPC_XDS_BOOTSTRAP";

/// Name of the environment variable holding the bootstrap JSON itself.
pub const BOOTSTRAP_CONFIG_ENV: &str = "GRPC_XDS_BOOTSTRAP_CONFIG";

impl Bootstrap {
    /// Reads and validates the bootstrap file at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, BootstrapError> {
        let path = path.as_ref();
        read_file(path, BootstrapSource::File(path.to_path_buf()))
    }

    /// Reads the bootstrap named by this process's environment: the file at `GRPC_XDS_BOOTSTRAP`,
    /// else the JSON in `GRPC_XDS_BOOTSTRAP_CONFIG`. An empty variable counts as unset.
    pub fn from_env() -> Result<Self, BootstrapError> {
        let file = std::env::var_os(BOOTSTRAP_FILE_ENV);
        let config = std::env::var_os(BOOTSTRAP_CONFIG_ENV);
        Self::from_env_values(file.as_deref(), config.as_deref())
    }

    /// As [`Bootstrap::from_env`], with the two variables' values given explicitly
    /// (`GRPC_XDS_BOOTSTRAP`, `GRPC_XDS_BOOTSTRAP_CONFIG`), e.g. from a test or a config system.
    ///
    /// ```
    /// use std::ffi::OsStr;
    /// use meshwork::bootstrap::Bootstrap;
    /// let json = r#"{"xds_servers": [{"server_uri": "127.0.0.1:18000",
    ///                                 "channel_creds": [{"type": "insecure"}]}]}"#;
    /// let bootstrap = Bootstrap::from_env_values(None, Some(OsStr::new(json)))?;
    /// assert_eq!(bootstrap.xds_servers.len(), 1);
    /// # Ok::<(), meshwork::bootstrap::BootstrapError>(())
    /// ```
    pub fn from_env_values(
        bootstrap_file: Option<&OsStr>,
        bootstrap_config: Option<&OsStr>,
    ) -> Result<Self, BootstrapError> {
        if let Some(path) = bootstrap_file.filter(|v| !v.is_empty()) {
            let path = PathBuf::from(OsString::from(path));
            return read_file(&path, BootstrapSource::EnvFile(path.clone()));
        }
        match bootstrap_config.filter(|v| !v.is_empty()) {
            Some(config) => {
                let json = config.to_str().ok_or(BootstrapError::ConfigNotUtf8)?;
                Self::from_json_str(json, BootstrapSource::EnvConfig)
            }
            None => Err(BootstrapError::NotConfigured),
        }
    }
}

fn read_file(path: &Path, origin: BootstrapSource) -> Result<Bootstrap, BootstrapError> {
    match std::fs::read_to_string(path) {
        Ok(json) => Bootstrap::from_json_str(&json, origin),
        Err(error) => Err(BootstrapError::Read { origin, error }),
    }
}
