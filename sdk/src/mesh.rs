//! [`Mesh`]: the process-wide handle — one xDS client per bootstrap (gRFC A27: every channel of
//! the process shares it), one endpoint [`ConnectionPool`], and a target → channel cache so that
//! two `mesh.channel("xds:///x")` calls share resolution, balancers and connections.
//!
//! `mesh.channel(target)` validates the target and starts resolving, then returns at once: like a
//! gRPC channel it does not block on the control plane. RPCs queue until the first configuration
//! arrives and fail `UNAVAILABLE` with the resolver's error (naming the missing resource) once
//! [`ChannelOptions::resolve_timeout`] has passed without one. Every background task is owned:
//! dropping the `Mesh` and every channel it made stops the ADS streams, resolvers, manager tasks
//! and connections. Telemetry, the fault registry, the server layer and the admin endpoint join
//! this handle in later issues.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::runtime::Handle;

use crate::bootstrap::Bootstrap;
use crate::channel::{ChannelError, ChannelOptions, MeshChannel};
use crate::connection::{ConnectOptions, ConnectionPool};
use crate::resolver::Resolver;
use crate::xds::{ClientOptions, XdsClient};

/// Knobs of a [`Mesh`].
#[derive(Clone, Debug, Default)]
pub struct MeshOptions {
    /// Options of every channel the mesh makes.
    pub channel: ChannelOptions,
    /// How endpoint connections are made and retried.
    pub connect: ConnectOptions,
    /// Options of the xDS client.
    pub xds: ClientOptions,
}

/// The process-wide Meshwork handle; see the module docs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Mesh {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    bootstrap: Bootstrap,
    client: XdsClient,
    pool: ConnectionPool,
    options: MeshOptions,
    runtime: Handle,
    channels: Mutex<HashMap<String, Weak<crate::channel::ChannelCore>>>,
}

impl Mesh {
    /// A mesh from the bootstrap named by `GRPC_XDS_BOOTSTRAP` (a file) or
    /// `GRPC_XDS_BOOTSTRAP_CONFIG` (the JSON), with default options.
    pub async fn from_env() -> Result<Mesh, ChannelError> {
        Mesh::from_bootstrap(Bootstrap::from_env()?)
    }

    /// A mesh for `bootstrap`, with default options. Must be called inside a tokio runtime.
    pub fn from_bootstrap(bootstrap: Bootstrap) -> Result<Mesh, ChannelError> {
        Mesh::with_options(bootstrap, MeshOptions::default())
    }

    /// A mesh for `bootstrap` with explicit options. Must be called inside a tokio runtime; the
    /// ADS stream to the bootstrap's first control plane starts now.
    pub fn with_options(bootstrap: Bootstrap, options: MeshOptions) -> Result<Mesh, ChannelError> {
        let runtime = Handle::try_current().map_err(|_| ChannelError::NoRuntime)?;
        let client = XdsClient::with_options(&bootstrap, options.xds.clone())?;
        let pool = ConnectionPool::new(options.connect.clone(), runtime.clone());
        Ok(Mesh {
            inner: Arc::new(Inner {
                bootstrap,
                client,
                pool,
                options,
                runtime,
                channels: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// A channel to `target` (`xds:///host:port` or `xds://authority/host:port`). Returns once
    /// resolution has started; a channel to the same target that is still alive is shared.
    pub async fn channel(&self, target: &str) -> Result<MeshChannel, ChannelError> {
        let mut channels = self
            .inner
            .channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(core) = channels.get(target).and_then(Weak::upgrade) {
            return Ok(MeshChannel::from_core(core));
        }
        channels.retain(|_, core| core.strong_count() > 0);
        let listener = self
            .inner
            .bootstrap
            .listener_for_target(target)
            .map_err(crate::resolver::ResolveError::from)?;
        let resolver = Resolver::start(self.inner.client.clone(), &self.inner.bootstrap, target)?;
        let channel = MeshChannel::start_xds(
            target,
            resolver,
            &listener.data_plane_authority,
            self.inner.pool.clone(),
            self.inner.options.channel.clone(),
            &self.inner.runtime,
        )?;
        channels.insert(target.to_string(), Arc::downgrade(channel.core()));
        Ok(channel)
    }

    /// A builder for a static channel (no control plane) that shares this mesh's connection
    /// pool and channel options; see [`MeshChannel::builder`].
    pub fn static_channel(&self) -> crate::channel::MeshChannelBuilder {
        MeshChannel::builder()
            .options(self.inner.options.channel.clone())
            .connection_pool(self.inner.pool.clone())
    }

    /// The bootstrap in use.
    pub fn bootstrap(&self) -> &Bootstrap {
        &self.inner.bootstrap
    }

    /// The process's xDS client (config dump, connection state).
    pub fn xds_client(&self) -> &XdsClient {
        &self.inner.client
    }

    /// The endpoint connection pool shared by the mesh's channels.
    pub fn connection_pool(&self) -> &ConnectionPool {
        &self.inner.pool
    }
}
