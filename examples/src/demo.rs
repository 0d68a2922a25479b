//! The demo mesh: in one process, the dev xDS control plane ([`crate::xds_server`]), a few greeter
//! backends with different latency and error behaviour ([`crate::greeter`]), and a client sending
//! steady traffic through the Meshwork SDK, so routing, locality weights, retries, failover (and
//! later faults and ejections) are visible the moment it starts. Binary: `meshwork-demo`.
//!
//! What is served (see [`mesh_file`]): service `greeter:50051`; RPCs with `x-canary: yes` go to
//! cluster `greeter-canary`, the rest to cluster `greeter` (round robin over two weighted
//! localities) with a retry policy for `UNAVAILABLE` (gRFC A44), a 1 s timeout (gRFC A31), a
//! circuit breaker (gRFC A32) and outlier detection (gRFC A50). What the client applies of that
//! is up to the SDK's channel; the demo only shows the outcome. Each backend and the client stand
//! for one service process of a real mesh and serves its own admin endpoint (service names
//! `greeter-<backend>` and [`CLIENT_SERVICE`], listed by [`DemoHandle::admin_endpoints`]), all
//! guarded by one bearer token per run ([`DemoHandle::admin_token`]): `meshtop` attaches there.
//!
//! Not a benchmark (the client records with a mutex and everything shares one runtime) and not
//! a test harness: it never asserts anything. [`DemoStats::line`] is the live view without
//! `meshtop`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use meshwork_examples::demo::{Demo, DemoConfig};
//! let demo = Demo::start(DemoConfig::default()).await?;
//! println!("{}", demo.describe());
//! if let Some(b2) = demo.backend("b2") {
//!     b2.behavior().set_error_rate(0.6, tonic::Code::Unavailable); // watch it get ejected
//! }
//! println!("{}", demo.stats().line());
//! demo.shutdown().await;
//! # Ok(()) }
//! ```

mod admin;
mod backends;
mod client;
mod config;
mod histogram;
pub mod mesh_file;
mod recorder;
mod stats;

pub use admin::generate_token;
pub use backends::DemoBackend;
pub use client::{CLIENT_NODE_ID, CLIENT_SERVICE, DemoClient};
pub use config::{BackendSpec, DemoConfig};
pub use histogram::LatencyHistogram;
pub use mesh_file::{CANARY_CLUSTER, CANARY_HEADER, MAIN_CLUSTER, TARGET};
pub use recorder::{Outcome, Recorder, STATS_WINDOW};
pub use stats::{BackendStats, ClientStats, DemoStats, Tally};

use std::fmt::Write as _;
use std::net::SocketAddr;

use tokio::time::Instant;

use crate::greeter::ServeError;
use crate::xds_server::{MeshError, ServerError, ServerHandle, XdsServer};

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A configuration knob is out of range.
    #[error("invalid demo configuration: {0}")]
    InvalidConfig(String),
    /// A backend could not start.
    #[error("demo backend `{name}` did not start: {source}")]
    Backend {
        /// The backend.
        name: String,
        /// Why.
        source: ServeError,
    },
    /// The generated mesh was rejected (a bug in the demo: please report it with the config).
    #[error("the demo's generated mesh is invalid: {0}")]
    Mesh(#[from] MeshError),
    /// The control plane could not start.
    #[error("demo control plane did not start: {0}")]
    ControlPlane(#[from] ServerError),
    /// The client's `Mesh` or channel could not be made.
    #[error("demo client could not open {TARGET}: {0}")]
    Client(meshwork::channel::ChannelError),
    /// A service's admin endpoint could not start.
    #[error("admin endpoint of demo service `{service}` did not start: {source}")]
    Admin {
        /// The service.
        service: String,
        /// Why.
        source: meshwork::admin::AdminError,
    },
}

/// Entry point of the demo.
#[derive(Debug)]
pub struct Demo;

/// The running demo: control plane, backends and client. Dropping it stops everything (abruptly);
/// [`DemoHandle::shutdown`] stops it in order and waits, bounded.
pub struct DemoHandle {
    started: Instant,
    config: DemoConfig,
    mesh_yaml: String,
    admin_token: String,
    control_plane: ServerHandle,
    backends: Vec<DemoBackend>,
    client: DemoClient,
    recorder: Recorder,
}

impl Demo {
    /// Starts the backends, then the control plane serving the mesh that names them, then the
    /// client, each service with its admin endpoint. Everything binds where `config` says (port
    /// 0 picks free ports; admin endpoints always take a free loopback port).
    pub async fn start(config: DemoConfig) -> Result<DemoHandle, DemoError> {
        config.validate()?;
        let admin_token = match &config.admin_token {
            Some(token) => token.clone(),
            None => generate_token(&mut fastrand::Rng::new()),
        };
        let mut backends = Vec::with_capacity(config.backends.len());
        for (i, spec) in config.backends.iter().enumerate() {
            let seed = config.seed.wrapping_add(1 + i as u64);
            backends.push(DemoBackend::start(spec.clone(), seed, &admin_token).await?);
        }
        let addrs: Vec<SocketAddr> = backends.iter().map(DemoBackend::addr).collect();
        let (mesh_yaml, mesh) = mesh_file::demo_mesh(&config.backends, &addrs)?;
        let control_plane = XdsServer::start(config.control_plane, mesh).await?;
        let started = Instant::now();
        let recorder = Recorder::new(
            started,
            backends.iter().map(|b| (b.name().to_owned(), b.addr())),
        );
        let client = DemoClient::start(
            control_plane.local_addr(),
            &config,
            recorder.clone(),
            &admin_token,
        )
        .await?;
        Ok(DemoHandle {
            started,
            config,
            mesh_yaml,
            admin_token,
            control_plane,
            backends,
            client,
            recorder,
        })
    }
}

impl DemoHandle {
    /// The control plane's address.
    pub fn control_plane_addr(&self) -> SocketAddr {
        self.control_plane.local_addr()
    }

    /// The control plane, e.g. to serve a changed mesh with `set_mesh`.
    pub fn control_plane(&self) -> &ServerHandle {
        &self.control_plane
    }

    /// A gRPC xDS bootstrap (JSON) for another client to join the demo mesh.
    pub fn bootstrap_json(&self) -> String {
        self.control_plane.bootstrap_json("meshwork-demo-guest")
    }

    /// Every demo service's admin endpoint, by service name: the client first, then the
    /// backends in configuration order (a stopped backend's endpoint is gone).
    pub fn admin_endpoints(&self) -> Vec<(String, SocketAddr)> {
        let client = (CLIENT_SERVICE.to_owned(), self.client.admin_addr());
        std::iter::once(client)
            .chain(
                self.backends
                    .iter()
                    .map(|b| (b.service_name().to_owned(), b.admin_addr())),
            )
            .collect()
    }

    /// The bearer token every demo admin endpoint wants for mutations (fault rules).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// A ready command line attaching `meshtop` to every demo admin endpoint with the token.
    pub fn meshtop_command(&self) -> String {
        let addrs: Vec<String> = self
            .admin_endpoints()
            .iter()
            .map(|(_, addr)| addr.to_string())
            .collect();
        format!(
            "MESHTOP_TOKEN={} meshtop {}",
            self.admin_token,
            addrs.join(" ")
        )
    }

    /// The mesh file being served (YAML, the format of `examples/mesh/README.md`).
    pub fn mesh_yaml(&self) -> &str {
        &self.mesh_yaml
    }

    /// The configuration it started with.
    pub fn config(&self) -> &DemoConfig {
        &self.config
    }

    /// The backends, in configuration order; steer them through [`DemoBackend::behavior`].
    pub fn backends(&self) -> &[DemoBackend] {
        &self.backends
    }

    /// The backends, to kill or stop some of them.
    pub fn backends_mut(&mut self) -> &mut [DemoBackend] {
        &mut self.backends
    }

    /// The backend called `name`.
    pub fn backend(&self, name: &str) -> Option<&DemoBackend> {
        self.backends.iter().find(|b| b.name() == name)
    }

    /// What the client saw so far, plus what each backend counted itself.
    pub fn stats(&self) -> DemoStats {
        let mut stats = self.recorder.snapshot(Instant::now());
        for (row, backend) in stats.backends.iter_mut().zip(&self.backends) {
            row.served_ok = backend.served().ok();
            row.served_failed = backend.served().failed();
        }
        stats
    }

    /// When the demo started (the origin of [`DemoStats::elapsed`]).
    pub fn started(&self) -> Instant {
        self.started
    }

    /// What runs where: the control plane, the target, the backends and the client.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "control plane  xds://{}  (node id of the client: {CLIENT_NODE_ID})\n\
             target         {TARGET}  (x-canary: yes -> {CANARY_CLUSTER})\n\
             client         {} RPC/s, at most {} in flight, deadline {:?}, {:.0}% canary, seed {}\n\
             backends:\n",
            self.control_plane_addr(),
            self.config.rate,
            self.config.max_in_flight,
            self.config.rpc_timeout,
            self.config.canary_fraction * 100.0,
            self.config.seed,
        );
        for backend in &self.backends {
            let _ = writeln!(text, "  {}", backend.describe());
        }
        text
    }

    /// Stops the client (open RPCs get their deadline), then the backends, then the control
    /// plane; every wait is bounded.
    pub async fn shutdown(mut self) {
        self.client.shutdown().await;
        for backend in &mut self.backends {
            backend.shutdown().await;
        }
        let DemoHandle { control_plane, .. } = self;
        control_plane.shutdown().await;
    }
}
