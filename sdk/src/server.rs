//! The server side of Meshwork: a tower layer for the application's tonic server and the
//! process's `grpc.health.v1` service.
//!
//! [`ServerLayer`] (from [`Mesh::server_layer`](crate::Mesh::server_layer)) applies the runtime
//! fault rules scoped to a served method ([`RequestScope::Server`]): an operator can make this
//! process delay or fail its own RPCs through the admin endpoint, with gRFC A33's semantics
//! (delay first, then a trailers-only abort, before the handler runs). It reuses the generic
//! [`FaultLayer`], so an RPC whose rule does not fire reaches the handler untouched. xDS server
//! listeners' inbound HCM filters are not applied; [`xds::XdsServer`] serves a listening address
//! as gRFC A36 xDS-enabled servers do (serving modes, filter chains, A29 TLS/mTLS). Outside the fault layer sits the telemetry's
//! [`ServerMetricsLayer`] (gRFC A66 `grpc.server.call.*` and the server span), so injected
//! delays and aborts show in the server metrics as the caller saw them.
//!
//! [`Health`] wraps tonic-health: one reporter whose status the application's server and the
//! admin endpoint both serve (gRPC health checking protocol, `grpc.health.v1.Health`), so
//! clients' active health checks (gRFC A17) see what the application or operator sets. It also
//! remembers the statuses set through it (tonic-health cannot list them), so the admin
//! endpoint can show them; statuses set on [`Health::reporter`] directly are served but not
//! listed.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mesh = meshwork::Mesh::builder().service_name("greeter").build()?;
//! let health = mesh.health().clone();
//! health.set_serving(true).await;
//! # let greeter = tonic_health::server::health_reporter().1; // stands in for the app's service
//! tonic::transport::Server::builder()
//!     .layer(mesh.server_layer())
//!     .add_service(health.service())
//!     .add_service(greeter)
//!     .serve("127.0.0.1:50051".parse()?)
//!     .await?;
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tonic::codegen::http::Request;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use tower::Layer;

use crate::balancer::AtomicRng;
use crate::fault::{
    FaultDecider, FaultDecision, FaultLayer, FaultRegistry, FaultService, RequestScope,
};
use crate::route::RandomSource;
use crate::telemetry::{ServerMetrics, ServerMetricsLayer, Telemetry};

pub mod xds;

pub use xds::{ServingMode, XdsServer, XdsServerError};

/// Records server metrics and applies server-side runtime fault rules; see the module docs.
#[derive(Clone, Debug)]
pub struct ServerLayer {
    inner: FaultLayer<ServerFaults>,
    metrics: ServerMetricsLayer,
}

/// Decides a served RPC's faults from the runtime rules.
#[derive(Clone, Debug)]
pub struct ServerFaults {
    registry: FaultRegistry,
    rng: Arc<AtomicRng>,
}

/// The process's `grpc.health.v1` status: one reporter, served by the application's server and
/// the admin endpoint. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Health {
    reporter: HealthReporter,
    statuses: Arc<Mutex<BTreeMap<String, bool>>>,
}

impl ServerLayer {
    /// A layer consulting `registry` for every served RPC, without telemetry.
    pub fn new(registry: FaultRegistry) -> Self {
        Self::with_seed(registry, fastrand::u64(..))
    }

    /// The same layer drawing from a seeded generator (reproducible tests).
    pub fn with_seed(registry: FaultRegistry, seed: u64) -> Self {
        ServerLayer {
            inner: FaultLayer::new(ServerFaults {
                registry,
                rng: Arc::new(AtomicRng::new(seed)),
            }),
            metrics: ServerMetricsLayer::new(&Telemetry::disabled()),
        }
    }

    /// Records gRFC A66 server metrics (and server spans) into `telemetry`.
    pub fn telemetry(mut self, telemetry: &Telemetry) -> Self {
        self.metrics = ServerMetricsLayer::new(telemetry);
        self
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = ServerMetrics<FaultService<S, ServerFaults>>;

    fn layer(&self, inner: S) -> Self::Service {
        self.metrics.layer(self.inner.layer(inner))
    }
}

impl<B> FaultDecider<B> for ServerFaults {
    fn decide(&self, request: &Request<B>) -> FaultDecision {
        let scope = RequestScope::Server {
            method: request.uri().path(),
        };
        let decision = self
            .registry
            .rule_decision(&scope, &mut Draws(&self.rng))
            .unwrap_or_default();
        if !decision.is_none() {
            tracing::debug!(
                target: "meshwork::fault",
                method = request.uri().path(),
                delay = ?decision.delay,
                abort = ?decision.abort.as_ref().map(tonic::Status::code),
                "server fault injected"
            );
        }
        decision
    }
}

impl Health {
    /// A new status: the whole server (service name `""`) starts SERVING, as tonic-health does.
    pub fn new() -> Self {
        Health {
            reporter: HealthReporter::new(),
            statuses: Arc::new(Mutex::new(BTreeMap::from([(String::new(), true)]))),
        }
    }

    /// The reporter, to set per-service statuses.
    pub fn reporter(&self) -> &HealthReporter {
        &self.reporter
    }

    /// The `grpc.health.v1.Health` service to add to a tonic server.
    pub fn service(&self) -> HealthServer<HealthService> {
        HealthServer::new(HealthService::from_health_reporter(self.reporter.clone()))
    }

    /// Sets the whole server's status (service name `""`).
    pub async fn set_serving(&self, serving: bool) {
        self.set_service_serving("", serving).await;
    }

    /// Sets the status of `service` (`""` = the whole server); returns its previous status as
    /// set through this handle, if any.
    pub async fn set_service_serving(&self, service: &str, serving: bool) -> Option<bool> {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        let was = self.lock().insert(service.to_string(), serving);
        self.reporter.set_service_status(service, status).await;
        was
    }

    /// Every status set through this handle (the whole server `""` included), by service name.
    pub fn statuses(&self) -> Vec<(String, bool)> {
        self.lock().iter().map(|(s, v)| (s.clone(), *v)).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, bool>> {
        self.statuses.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for Health {
    fn default() -> Self {
        Health::new()
    }
}

/// A fresh [`Health`] for an application that does not use a [`Mesh`](crate::Mesh)'s.
pub fn health() -> Health {
    Health::new()
}

/// The shared generator as a [`RandomSource`].
struct Draws<'a>(&'a AtomicRng);

impl RandomSource for Draws<'_> {
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}
