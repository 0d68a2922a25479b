//! Errors of the ADS client: what a watcher is told about a resource, and why a client could not
//! be built.
//!
//! Watch errors follow gRFC A88's two classes: *transient* (the control plane cannot be reached)
//! and *data* (a resource was rejected, deleted, or never sent). Whether a watcher sees one as an
//! error or as an ambient error depends on whether a cached value is still served; that choice is
//! made by the protocol core, not here. This module does no I/O.

use std::time::Duration;

use super::resource::ResourceKind;

/// Why a watched resource is not (or no longer) usable, as shown to a watcher.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// Transient (A88): the ADS stream to the control plane failed before any response.
    #[error(
        "xds server `{server}` unreachable: {message}; cached config (if any) keeps serving; check the \
         server address in the bootstrap and that the control plane is up"
    )]
    Unreachable {
        /// The control plane's `server_uri`.
        server: String,
        /// What the transport reported.
        message: String,
    },
    /// Data error (A88): the control plane sent the resource but it failed validation (NACKed).
    #[error(
        "{kind} resource `{name}` version `{version}` from xds server `{server}` rejected: {message}"
    )]
    Invalid {
        /// Resource kind.
        kind: ResourceKind,
        /// Resource name.
        name: String,
        /// Version of the response that carried the bad resource.
        version: String,
        /// The control plane's `server_uri`.
        server: String,
        /// What the validator reported.
        message: String,
    },
    /// Data error (A88): an LDS/CDS resource disappeared from a state-of-the-world response.
    #[error(
        "{kind} resource `{name}` was deleted by xds server `{server}`; check the control plane still \
         configures it"
    )]
    Deleted {
        /// Resource kind.
        kind: ResourceKind,
        /// Resource name.
        name: String,
        /// The control plane's `server_uri`.
        server: String,
    },
    /// The does-not-exist timer fired: the control plane never sent the resource.
    #[error(
        "{kind} resource `{name}` not found on xds server `{server}` after {}s; check the name matches \
         a resource the control plane serves",
        after.as_secs()
    )]
    NotFound {
        /// Resource kind.
        kind: ResourceKind,
        /// Resource name.
        name: String,
        /// The control plane's `server_uri`.
        server: String,
        /// How long the client waited.
        after: Duration,
    },
    /// The resource timer fired with `resource_timer_is_transient_error` (gRFC A88): the control
    /// plane, which reports missing resources itself, sent nothing in time.
    #[error(
        "{kind} resource `{name}`: xds server `{server}` sent nothing within {}s; the control \
         plane is slow or overloaded (it reports missing resources itself); check its health",
        after.as_secs()
    )]
    TimedOut {
        /// Resource kind.
        kind: ResourceKind,
        /// Resource name.
        name: String,
        /// The control plane's `server_uri`.
        server: String,
        /// How long the client waited.
        after: Duration,
    },
    /// The control plane reported an error for this resource (xRFC TP3 `resource_errors`). A data
    /// error for `NOT_FOUND` and `PERMISSION_DENIED`, transient for any other code (gRFC A88).
    #[error(
        "{kind} resource `{name}`: xds server `{server}` reported {code}: {message}; check the \
         resource and this client's access on the control plane"
    )]
    ServerError {
        /// Resource kind.
        kind: ResourceKind,
        /// Resource name.
        name: String,
        /// The control plane's `server_uri`.
        server: String,
        /// The gRPC status code name, e.g. `NOT_FOUND`.
        code: String,
        /// The server's message.
        message: String,
    },
    /// A federation name (`xdstp://<authority>/...`, gRFC A47) whose authority this client cannot
    /// serve; the resource is never requested.
    #[error("{kind} resource `{name}`: unknown xDS authority `{authority}`: {message}")]
    UnknownAuthority {
        /// Resource kind.
        kind: ResourceKind,
        /// Resource name as watched.
        name: String,
        /// The authority the name carries.
        authority: String,
        /// What is wrong and what to do.
        message: String,
    },
}

/// Why an [`XdsClient`](super::XdsClient) could not be created.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Created outside a tokio runtime, so the stream task cannot start.
    #[error("XdsClient must be created inside a tokio runtime; create it from async code")]
    NoRuntime,
    /// The bootstrap lists no xds server.
    #[error("bootstrap has no `xds_servers`; add at least one control plane")]
    NoServer,
    /// The server's channel credentials are not supported by this build.
    #[error(
        "xds server `{server}`: channel_creds `{creds}` not supported by this client; use `insecure` \
         or `tls`"
    )]
    UnsupportedCredentials {
        /// The control plane's `server_uri`.
        server: String,
        /// The credentials type that was configured.
        creds: &'static str,
    },
    /// A file named by the `tls` channel credentials cannot be used (gRFC A65).
    #[error(
        "xds server `{server}`: cannot use `{field}` file `{path}` of the `tls` channel_creds: \
         {message}; check the path in the bootstrap and that the file is a readable PEM file"
    )]
    CredentialsFile {
        /// The control plane's `server_uri`.
        server: String,
        /// The config field naming the file (`ca_certificate_file`, `certificate_file`,
        /// `private_key_file`).
        field: &'static str,
        /// The path as configured.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The server URI cannot be turned into an HTTP/2 endpoint.
    #[error(
        "xds server uri `{server}` not usable: {message}; expected `host:port`, `dns:///host:port` or \
         `http://host:port`"
    )]
    InvalidServerUri {
        /// The configured `server_uri`.
        server: String,
        /// What was wrong.
        message: String,
    },
}
