//! Errors of reading a bootstrap, and where the bootstrap came from.
//!
//! Every error names its origin (a file, `GRPC_XDS_BOOTSTRAP_CONFIG`, or code), the JSON field path
//! (`xds_servers[0].channel_creds[1].type`), what was expected, what was found, and what to do.
//! Errors of resolving a target live in `target.rs`.

use std::fmt;
use std::path::PathBuf;

/// Where a bootstrap came from, so errors can point at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootstrapSource {
    /// A file read directly ([`Bootstrap::from_file`](super::Bootstrap::from_file)).
    File(PathBuf),
    /// A file named by the `GRPC_XDS_BOOTSTRAP` environment variable.
    EnvFile(PathBuf),
    /// The inline JSON of the `GRPC_XDS_BOOTSTRAP_CONFIG` environment variable.
    EnvConfig,
    /// JSON handed over or a bootstrap built by the application itself.
    InCode,
}

/// Why a bootstrap could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// Neither environment variable is set.
    #[error(
        "no gRPC xDS bootstrap: neither GRPC_XDS_BOOTSTRAP (path of a bootstrap JSON file) nor \
         GRPC_XDS_BOOTSTRAP_CONFIG (the bootstrap JSON itself) is set; set one of them, or build \
         the bootstrap in code with `Bootstrap::new`"
    )]
    NotConfigured,
    /// `GRPC_XDS_BOOTSTRAP_CONFIG` holds bytes that are not UTF-8.
    #[error(
        "GRPC_XDS_BOOTSTRAP_CONFIG is not valid UTF-8; expected the bootstrap JSON text, set it to \
         UTF-8 JSON or put the JSON in a file named by GRPC_XDS_BOOTSTRAP"
    )]
    ConfigNotUtf8,
    /// The bootstrap file could not be read.
    #[error(
        "cannot read the gRPC xDS bootstrap {origin}: {error}; check that the file exists, is \
         readable by this process and holds UTF-8 JSON"
    )]
    Read {
        /// The file.
        origin: BootstrapSource,
        /// What the operating system said.
        #[source]
        error: std::io::Error,
    },
    /// The text is not JSON.
    #[error(
        "the gRPC xDS bootstrap {origin} is not valid JSON: {message} at line {line}, column \
         {column}; fix the JSON syntax there"
    )]
    Json {
        /// Where the text came from.
        origin: BootstrapSource,
        /// Line of the error, 1-based.
        line: usize,
        /// Column of the error, 1-based.
        column: usize,
        /// What the JSON parser expected.
        message: String,
    },
    /// A field is missing, has the wrong type, or holds a value this client cannot use.
    #[error(transparent)]
    Field(Box<FieldError>),
}

impl BootstrapError {
    /// The JSON path of the offending field, for [`BootstrapError::Field`].
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Field(error) => Some(&error.field),
            _ => None,
        }
    }
}

/// A bootstrap field that is missing, has the wrong type, or holds an unusable value.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid gRPC xDS bootstrap {origin}: at `{field}` expected {expected}, found {found}; {fix}"
)]
pub struct FieldError {
    /// Where the bootstrap came from.
    pub origin: BootstrapSource,
    /// JSON path of the field, e.g. `xds_servers[0].channel_creds[1].type`.
    pub field: String,
    /// What the field must hold.
    pub expected: String,
    /// What it holds.
    pub found: String,
    /// What to do about it.
    pub fix: String,
}

impl fmt::Display for BootstrapSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "file `{}`", path.display()),
            Self::EnvFile(path) => {
                write!(f, "file `{}` (named by GRPC_XDS_BOOTSTRAP)", path.display())
            }
            Self::EnvConfig => f.write_str("from GRPC_XDS_BOOTSTRAP_CONFIG"),
            Self::InCode => f.write_str("built in code"),
        }
    }
}
