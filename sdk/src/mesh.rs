//! [`Mesh`]: the process-wide handle — one xDS client per bootstrap (gRFC A27: every channel of
//! the process shares it), one endpoint [`ConnectionPool`], a target → channel cache so that
//! two `mesh.channel("xds:///x")` calls share resolution, balancers and connections, the runtime
//! [`FaultRegistry`] every channel and the [`server layer`](Mesh::server_layer) consult, the
//! process's `grpc.health.v1` status, and the [`admin endpoint`](Mesh::serve_admin).
//!
//! `mesh.channel(target)` validates the target and starts resolving, then returns at once: like a
//! gRPC channel it does not block on the control plane. RPCs queue until the first configuration
//! arrives and fail `UNAVAILABLE` with the resolver's error (naming the missing resource) once
//! [`ChannelOptions::resolve_timeout`] has passed without one. A mesh built without a bootstrap
//! ([`Mesh::builder`]) serves static channels, the server layer and the admin endpoint; its
//! `channel()` refuses `xds:` targets. Every background task is owned: dropping the `Mesh` and
//! every channel it made stops the ADS streams, resolvers, manager tasks and connections.
//!
//! **Telemetry.** The mesh owns one [`Telemetry`]: every channel it makes (xDS and
//! [`static`](Mesh::static_channel)) records gRFC A66 call and attempt metrics into it, the
//! [`server layer`](Mesh::server_layer) records server metrics, and [`Mesh::serve_metrics`]
//! serves it as Prometheus text. Unless [`MeshBuilder::telemetry`] says otherwise it is
//! [`Telemetry::from_env`]: pushed over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or its
//! `_METRICS_` / `_TRACES_` variants) is set, always kept locally for Prometheus, and off with
//! `OTEL_SDK_DISABLED=true`. Pass [`Telemetry::disabled`] to switch it off in code. The mesh's
//! xDS client records the gRFC A78 xDS client metrics into it with `grpc.target` =
//! [`XDS_SHARED_TARGET`] (`#mesh`: one client serves every channel, see that constant).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::runtime::Handle;
use tokio::time::Instant;

use crate::admin::{AdminError, AdminHandle, AdminOptions};
use crate::bootstrap::{Bootstrap, BootstrapError};
use crate::channel::events::EVENT_CAPACITY;
use crate::channel::{ChannelCore, ChannelError, ChannelOptions, EventSink, MeshChannel};
use crate::connection::{ConnectOptions, ConnectionPool};
use crate::fault::{ActiveFaults, FaultRegistry, FaultRegistryConfig, WallClock};
use crate::resolver::Resolver;
use crate::server::{Health, ServerLayer};
use crate::telemetry::MeshMetrics;
use crate::telemetry::names::XDS_SHARED_TARGET;
use crate::telemetry::{
    MetricsOptions, MetricsServer, MetricsServerError, Telemetry, TelemetryBuilder,
};
use crate::tls::CertificateProviders;
use crate::xds::{ClientOptions, XdsClient, XdsClientMetrics};

/// The `grpc.target` of the process-wide xDS client's metrics (see [`XDS_SHARED_TARGET`]).
const XDS_METRICS_TARGET: &str = XDS_SHARED_TARGET;

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

/// Builds a [`Mesh`], with or without a control plane.
///
/// ```no_run
/// # async fn run() -> Result<(), meshwork::channel::ChannelError> {
/// // No control plane: static channels, the server layer and the admin endpoint.
/// let mesh = meshwork::Mesh::builder().service_name("greeter").build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct MeshBuilder {
    bootstrap: Option<Bootstrap>,
    options: MeshOptions,
    faults: FaultRegistryConfig,
    service_name: Option<String>,
    telemetry: Option<Telemetry>,
}

#[derive(Debug)]
struct Inner {
    xds: Option<(Bootstrap, XdsClient)>,
    pool: ConnectionPool,
    options: MeshOptions,
    runtime: Handle,
    channels: Mutex<HashMap<String, Weak<ChannelCore>>>,
    /// Channels from [`Mesh::unshared_channel`] (listed by channelz).
    unshared: Mutex<Vec<Weak<ChannelCore>>>,
    faults: FaultRegistry,
    fault_limits: FaultRegistryConfig,
    health: Health,
    events: EventSink,
    service_name: String,
    telemetry: Telemetry,
    /// Records `grpc.xds_client.connected` from the xDS client's connection state.
    _xds_metrics: Option<OwnedTask>,
    started: Instant,
    clock: WallClock,
}

impl MeshBuilder {
    /// Uses `bootstrap`'s control planes for `xds:` channels (without one, the mesh has none).
    pub fn bootstrap(mut self, bootstrap: Bootstrap) -> Self {
        self.bootstrap = Some(bootstrap);
        self
    }

    /// Channel, connection and xDS client options.
    pub fn options(mut self, options: MeshOptions) -> Self {
        self.options = options;
        self
    }

    /// Limits of the runtime fault registry (rule count, active faults).
    pub fn fault_limits(mut self, config: FaultRegistryConfig) -> Self {
        self.faults = config;
        self
    }

    /// The name the admin endpoint shows (default: the executable's name).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Where the mesh's metrics and spans go (default: [`Telemetry::from_env`], see the module
    /// docs). [`Telemetry::disabled`] turns telemetry off: no layer records anything.
    pub fn telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Builds the mesh. Must be called inside a tokio runtime; with a bootstrap, the ADS stream
    /// to its first control plane starts now. Fails when the default telemetry's OTLP exporter
    /// cannot be built from the `OTEL_*` environment.
    pub fn build(self) -> Result<Mesh, ChannelError> {
        let runtime = Handle::try_current().map_err(|_| ChannelError::NoRuntime)?;
        let mut options = self.options;
        let telemetry = match self.telemetry {
            Some(telemetry) => telemetry,
            None => default_telemetry(self.service_name.as_deref())?,
        };
        let xds = match self.bootstrap {
            Some(bootstrap) => {
                let client = if telemetry.is_enabled() {
                    let metrics = XdsClientMetrics::new(telemetry.mesh(), XDS_METRICS_TARGET);
                    XdsClient::with_metrics(&bootstrap, options.xds.clone(), metrics)?
                } else {
                    XdsClient::with_options(&bootstrap, options.xds.clone())?
                };
                Some((bootstrap, client))
            }
            None => None,
        };
        let fault_limits = self.faults;
        let faults = FaultRegistry::new(fault_limits.clone(), ActiveFaults::process());
        options.channel.fault_registry = Some(faults.clone());
        let events = EventSink::new(EVENT_CAPACITY);
        options.channel.events = events.clone();
        // gRFC A29: the pool makes TLS connections for clusters with upstream TLS, with the
        // bootstrap's certificate providers, unless the channel options turn xDS security off.
        let providers = xds
            .as_ref()
            .filter(|_| options.channel.xds_security)
            .map(|(b, _)| CertificateProviders::new(b.certificate_providers.clone()));
        let pool = ConnectionPool::with_tls(options.connect.clone(), runtime.clone(), providers);
        options.channel.telemetry = telemetry.clone();
        let xds_metrics = match (&xds, telemetry.is_enabled()) {
            (Some((_, client)), true) => Some(OwnedTask(
                runtime
                    .spawn(record_xds_connection(client.clone(), telemetry.mesh()))
                    .abort_handle(),
            )),
            _ => None,
        };
        let service_name = self.service_name.unwrap_or_else(default_service_name);
        Ok(Mesh {
            inner: Arc::new(Inner {
                xds,
                pool,
                options,
                runtime,
                channels: Mutex::new(HashMap::new()),
                unshared: Mutex::new(Vec::new()),
                faults,
                fault_limits,
                health: Health::new(),
                events,
                service_name,
                telemetry,
                _xds_metrics: xds_metrics,
                started: Instant::now(),
                clock: WallClock::now(),
            }),
        })
    }
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
        Mesh::builder()
            .bootstrap(bootstrap)
            .options(options)
            .build()
    }

    /// A builder, for a mesh without a control plane or with non-default fault limits.
    pub fn builder() -> MeshBuilder {
        MeshBuilder::default()
    }

    /// A channel to `target` (`xds:///host:port` or `xds://authority/host:port`). Returns once
    /// resolution has started; a channel to the same target that is still alive is shared.
    /// Fails on a mesh without a bootstrap.
    pub async fn channel(&self, target: &str) -> Result<MeshChannel, ChannelError> {
        let Some((bootstrap, client)) = &self.inner.xds else {
            return Err(BootstrapError::NotConfigured.into());
        };
        let mut channels = self.lock_channels();
        if let Some(core) = channels.get(target).and_then(Weak::upgrade) {
            return Ok(MeshChannel::from_core(core));
        }
        channels.retain(|_, core| core.strong_count() > 0);
        let channel = self.start_xds_channel(bootstrap, client, target)?;
        channels.insert(target.to_string(), Arc::downgrade(channel.core()));
        Ok(channel)
    }

    /// A new channel to `target` that shares nothing per-target with other channels: its own
    /// resolver watches, balancer, pickers, outlier detection and retry budget (like a second
    /// gRPC channel to the same target). It still shares the process's xDS client (gRFC A27),
    /// connections to endpoints, circuit-breaker counters (A32: per cluster, process-wide) and
    /// fault rules. The admin endpoint shows the first live channel per target. Fails on a
    /// mesh without a bootstrap.
    pub async fn unshared_channel(&self, target: &str) -> Result<MeshChannel, ChannelError> {
        let Some((bootstrap, client)) = &self.inner.xds else {
            return Err(BootstrapError::NotConfigured.into());
        };
        let channel = self.start_xds_channel(bootstrap, client, target)?;
        let mut channels = self.lock_channels();
        channels.retain(|_, core| core.strong_count() > 0);
        channels
            .entry(target.to_string())
            .or_insert_with(|| Arc::downgrade(channel.core()));
        drop(channels);
        let mut unshared = self
            .inner
            .unshared
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        unshared.retain(|core| core.strong_count() > 0);
        unshared.push(Arc::downgrade(channel.core()));
        Ok(channel)
    }

    fn start_xds_channel(
        &self,
        bootstrap: &Bootstrap,
        client: &XdsClient,
        target: &str,
    ) -> Result<MeshChannel, ChannelError> {
        let listener = bootstrap
            .listener_for_target(target)
            .map_err(crate::resolver::ResolveError::from)?;
        let resolver = Resolver::start(client.clone(), bootstrap, target)?;
        MeshChannel::start_xds(
            target,
            resolver,
            &listener.data_plane_authority,
            self.inner.pool.clone(),
            self.inner.options.channel.clone(),
            &self.inner.runtime,
        )
    }

    /// A builder for a static channel (no control plane) that shares this mesh's connection
    /// pool, channel options and fault registry; see [`MeshChannel::builder`]. Register the
    /// channel with [`Mesh::track`] to show it on the admin endpoint.
    pub fn static_channel(&self) -> crate::channel::MeshChannelBuilder {
        MeshChannel::builder()
            .options(self.inner.options.channel.clone())
            .connection_pool(self.inner.pool.clone())
    }

    /// Shows `channel` (e.g. a static one) on the admin endpoint for as long as it lives.
    pub fn track(&self, channel: &MeshChannel) {
        let mut channels = self.lock_channels();
        channels.retain(|_, core| core.strong_count() > 0);
        channels
            .entry(channel.target().to_string())
            .or_insert_with(|| Arc::downgrade(channel.core()));
    }

    /// The bootstrap in use (`None` for a mesh without a control plane).
    pub fn bootstrap(&self) -> Option<&Bootstrap> {
        self.inner.xds.as_ref().map(|(b, _)| b)
    }

    /// The process's xDS client (config dump, connection state); `None` without a bootstrap.
    pub fn xds_client(&self) -> Option<&XdsClient> {
        self.inner.xds.as_ref().map(|(_, c)| c)
    }

    /// The runtime fault rules every channel of this mesh and its server layer consult.
    pub fn faults(&self) -> &FaultRegistry {
        &self.inner.faults
    }

    /// The process's `grpc.health.v1` status: add [`Health::service`] to the application's
    /// server and flip it with [`Health::reporter`]; the admin endpoint serves the same status.
    pub fn health(&self) -> &Health {
        &self.inner.health
    }

    /// The events (outlier ejections and returns, breaker overflows) of every channel this
    /// mesh made; the admin `Watch` forwards them.
    pub fn events(&self) -> &EventSink {
        &self.inner.events
    }

    /// The server layer (gRFC A66 server metrics and spans, then runtime server-side faults)
    /// for `tonic::transport::Server::builder().layer(mesh.server_layer())`.
    pub fn server_layer(&self) -> ServerLayer {
        ServerLayer::new(self.inner.faults.clone()).telemetry(&self.inner.telemetry)
    }

    /// The channelz service (gRFC A14) of this mesh's channels and xDS streams, for
    /// `Server::builder().add_service(mesh.channelz())`; the admin endpoint serves it too.
    pub fn channelz(
        &self,
    ) -> meshwork_proto::channelz::v1::channelz_server::ChannelzServer<
        crate::channelz::ChannelzService,
    > {
        crate::channelz::ChannelzService::server(self.clone())
    }

    /// The mesh's telemetry (metrics, spans, Prometheus text).
    pub fn telemetry(&self) -> &Telemetry {
        &self.inner.telemetry
    }

    /// Serves the admin endpoint on `addr` until the returned handle is dropped. Refuses a
    /// non-loopback address with neither a token nor mutual TLS (see [`AdminOptions`]).
    pub async fn serve_admin(
        &self,
        addr: std::net::SocketAddr,
        options: AdminOptions,
    ) -> Result<AdminHandle, AdminError> {
        crate::admin::serve(self.clone(), addr, options).await
    }

    /// Serves the mesh's metrics as Prometheus text on `GET /metrics` at `addr` (loopback only;
    /// see [`Mesh::serve_metrics_with`]) until the returned handle is dropped.
    pub async fn serve_metrics(
        &self,
        addr: std::net::SocketAddr,
    ) -> Result<MetricsServer, MetricsServerError> {
        self.serve_metrics_with(addr, MetricsOptions::default())
            .await
    }

    /// [`Mesh::serve_metrics`] with options (e.g. a non-loopback address).
    pub async fn serve_metrics_with(
        &self,
        addr: std::net::SocketAddr,
        options: MetricsOptions,
    ) -> Result<MetricsServer, MetricsServerError> {
        crate::telemetry::serve_metrics(self.inner.telemetry.clone(), addr, options).await
    }

    /// The limits the fault registry was made with.
    pub(crate) fn fault_limits(&self) -> &FaultRegistryConfig {
        &self.inner.fault_limits
    }

    /// The name the admin endpoint shows.
    pub fn service_name(&self) -> &str {
        &self.inner.service_name
    }

    /// When the mesh was created (tokio time), and the wall clock at that moment.
    pub(crate) fn started(&self) -> (Instant, WallClock) {
        (self.inner.started, self.inner.clock)
    }

    /// Every live channel, by target.
    pub(crate) fn channels(&self) -> Vec<Arc<ChannelCore>> {
        let channels = self.lock_channels();
        let mut live: Vec<_> = channels.values().filter_map(Weak::upgrade).collect();
        live.sort_by(|a, b| a.target.cmp(&b.target));
        live
    }

    /// Every live channel: one per target from [`Mesh::channel`] / [`Mesh::track`] plus every
    /// unshared one, without duplicates, in creation order of their ids.
    pub(crate) fn all_channels(&self) -> Vec<Arc<ChannelCore>> {
        let mut all = self.channels();
        let unshared = self
            .inner
            .unshared
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for core in unshared.iter().filter_map(Weak::upgrade) {
            if !all.iter().any(|c| Arc::ptr_eq(c, &core)) {
                all.push(core);
            }
        }
        all
    }

    fn lock_channels(&self) -> std::sync::MutexGuard<'_, HashMap<String, Weak<ChannelCore>>> {
        self.inner
            .channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The endpoint connection pool shared by the mesh's channels.
    pub fn connection_pool(&self) -> &ConnectionPool {
        &self.inner.pool
    }
}

/// A background task that stops when its owner is dropped.
#[derive(Debug)]
struct OwnedTask(tokio::task::AbortHandle);

impl Drop for OwnedTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps `grpc.xds_client.connected` (gRFC A78) equal to whether the server in use has a working
/// ADS stream ([`ConnectionStatus::working`](crate::xds::ConnectionStatus::working): 1 from the
/// first response, 0 once a stream ends without a response), and 0 for a server left behind by
/// a fallback. Ends when the client's state channel closes.
async fn record_xds_connection(client: XdsClient, metrics: MeshMetrics) {
    let mut changes = client.watch_connection();
    let mut previous: Option<String> = None;
    loop {
        let status = changes.borrow_and_update().clone();
        if let Some(old) = previous.as_deref().filter(|old| *old != status.server_uri) {
            metrics.xds_connected(XDS_METRICS_TARGET, old, false);
        }
        metrics.xds_connected(XDS_METRICS_TARGET, &status.server_uri, status.working);
        previous = Some(status.server_uri);
        if changes.changed().await.is_err() {
            return;
        }
    }
}

/// [`Telemetry::from_env`], named after the mesh's service unless `OTEL_SERVICE_NAME` is set.
fn default_telemetry(service_name: Option<&str>) -> Result<Telemetry, ChannelError> {
    let mut builder = TelemetryBuilder::from_env();
    let named_by_env = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty());
    if let (Some(name), false) = (service_name, named_by_env) {
        builder = builder.service_name(name);
    }
    Ok(builder.build()?)
}

/// The executable's file name, or `meshwork` when it cannot be read.
fn default_service_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "meshwork".to_string())
}
