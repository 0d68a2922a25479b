//! The greeter backend's `grpc.health.v1.Health` service (tonic-health) and [`HealthHandle`], a
//! switch that flips it between SERVING and NOT_SERVING, for client-side health checking
//! (gRFC A17) and the ring-hash affinity tests that drain a backend.
//!
//! Reports one status for both the whole server (`""`) and `helloworld.Greeter`. It does not tie
//! the status to the backend's [`Behavior`](super::Behavior): a NOT_SERVING backend still answers
//! the calls that reach it, as a real draining server would.

use meshwork_proto::helloworld::greeter_server::GreeterServer;
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

use super::GreeterBackend;

/// The health service name of the greeter (`helloworld.Greeter`).
pub const GREETER_SERVICE: &str = <GreeterServer<GreeterBackend> as NamedService>::NAME;

/// Cloneable switch for a backend's reported health; starts SERVING.
#[derive(Debug, Clone)]
pub struct HealthHandle {
    reporter: HealthReporter,
}

impl HealthHandle {
    /// A new health state reporting SERVING for `""` and `helloworld.Greeter`.
    pub async fn new() -> Self {
        let handle = HealthHandle {
            reporter: HealthReporter::new(),
        };
        handle.set_serving(true).await;
        handle
    }

    /// Reports SERVING (`true`) or NOT_SERVING (`false`) for `""` and `helloworld.Greeter`;
    /// open `Watch` streams see the change.
    pub async fn set_serving(&self, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for service in ["", GREETER_SERVICE] {
            self.reporter.set_service_status(service, status).await;
        }
    }

    /// The tonic service answering `Check` and `Watch` from this state.
    pub fn service(&self) -> HealthServer<HealthService> {
        HealthServer::new(HealthService::from_health_reporter(self.reporter.clone()))
    }
}
