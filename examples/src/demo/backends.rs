//! [`DemoBackend`]: one running greeter backend of the demo, with the handles that steer it at
//! runtime (behaviour, health) and its server-side counters.
//!
//! Each backend stands for one service process of a real mesh: it has its own `Mesh` (service
//! name `greeter-<name>`, no control plane) whose server layer wraps the greeter server, so
//! server-side runtime fault rules apply, and whose admin endpoint it serves on a free loopback
//! port. Starting and stopping only: what the backend does per call is [`crate::greeter`]'s job.

use std::net::SocketAddr;
use std::time::Duration;

use meshwork::Mesh;
use meshwork::admin::AdminHandle;
use tonic::Code;

use crate::greeter::{
    Behavior, GreeterBackend, HealthHandle, RunningGreeter, Served, serve_layered,
};

use super::{BackendSpec, DemoError, admin};

/// The admin service name of the backend called `name`.
pub fn service_name(name: &str) -> String {
    format!("greeter-{name}")
}

/// How long a graceful backend stop lets open calls finish.
const STOP_GRACE: Duration = Duration::from_millis(500);

/// A greeter backend started by the demo. Dropping it stops the server and its admin endpoint.
#[derive(Debug)]
pub struct DemoBackend {
    spec: BackendSpec,
    backend: GreeterBackend,
    health: HealthHandle,
    addr: SocketAddr,
    mesh: Mesh,
    admin_addr: SocketAddr,
    admin: Option<AdminHandle>,
    running: Option<RunningGreeter>,
}

impl DemoBackend {
    /// Binds `spec.listen` and serves a greeter configured by `spec` behind its mesh's server
    /// layer; random errors follow `seed`. Its admin endpoint takes `admin_token` for mutations.
    pub async fn start(
        spec: BackendSpec,
        seed: u64,
        admin_token: &str,
    ) -> Result<DemoBackend, DemoError> {
        let mesh = Mesh::builder()
            .service_name(service_name(&spec.name))
            .build()
            .map_err(DemoError::Client)?;
        let behavior = Behavior::new(seed);
        behavior.set_latency(spec.latency);
        behavior.set_error_rate(spec.error_rate, Code::Unavailable);
        let backend = GreeterBackend::new(spec.name.clone()).with_behavior(behavior);
        let health = HealthHandle::new().await;
        let layer = Some(mesh.server_layer());
        let running = serve_layered(spec.listen, backend.clone(), &health, layer)
            .await
            .map_err(|source| DemoError::Backend {
                name: spec.name.clone(),
                source,
            })?;
        let admin = admin::serve(&mesh, admin_token).await?;
        Ok(DemoBackend {
            addr: running.local_addr(),
            admin_addr: admin.local_addr(),
            admin: Some(admin),
            mesh,
            spec,
            backend,
            health,
            running: Some(running),
        })
    }

    /// The name replies carry.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its admin service name (`greeter-<name>`).
    pub fn service_name(&self) -> &str {
        self.mesh.service_name()
    }

    /// Where its admin endpoint listens (gone once the backend is stopped).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Its `Mesh`: the runtime fault rules its server layer applies.
    pub fn mesh(&self) -> &Mesh {
        &self.mesh
    }

    /// How it was configured at start (runtime steering does not change this).
    pub fn spec(&self) -> &BackendSpec {
        &self.spec
    }

    /// Steers latency, errors and hangs at runtime.
    pub fn behavior(&self) -> &Behavior {
        self.backend.behavior()
    }

    /// Flips its `grpc.health.v1` status.
    pub fn health(&self) -> &HealthHandle {
        &self.health
    }

    /// What it served, by code, counted on the server (every attempt, retries included).
    pub fn served(&self) -> &Served {
        self.backend.served()
    }

    /// Whether it is still serving.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Stops it abruptly, like a crashed process: connections are cut, the client fails over,
    /// and its admin endpoint goes with it.
    pub async fn kill(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
        self.admin.take();
    }

    /// Stops it gracefully (GOAWAY, open calls get a short grace), then its admin endpoint.
    pub async fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown(STOP_GRACE).await;
        }
        if let Some(admin) = self.admin.take() {
            // An attached meshtop keeps a Watch stream open: past the grace, dropping aborts it.
            let _ = tokio::time::timeout(STOP_GRACE, admin.shutdown()).await;
        }
    }

    /// One line for the demo's banner: name, address, locality and behaviour.
    pub fn describe(&self) -> String {
        let spec = &self.spec;
        let cluster = if spec.canary {
            super::CANARY_CLUSTER
        } else {
            super::MAIN_CLUSTER
        };
        format!(
            "{:<8} {:<21} cluster {cluster:<15} zone {:<8} latency {:?}, {:.0}% UNAVAILABLE",
            spec.name,
            self.addr,
            spec.zone,
            spec.latency,
            spec.error_rate * 100.0
        )
    }
}
