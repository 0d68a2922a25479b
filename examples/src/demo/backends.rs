//! [`DemoBackend`]: one running greeter backend of the demo, with the handles that steer it at
//! runtime (behaviour, health) and its server-side counters.
//!
//! Each backend stands for one service process of a real mesh; it is the unit that will gain
//! its own admin endpoint once the SDK has one. Starting and stopping only: what the backend does
//! per call is [`crate::greeter`]'s job.

use std::net::SocketAddr;
use std::time::Duration;

use tonic::Code;

use crate::greeter::{Behavior, GreeterBackend, HealthHandle, RunningGreeter, Served, serve};

use super::{BackendSpec, DemoError};

/// How long a graceful backend stop lets open calls finish.
const STOP_GRACE: Duration = Duration::from_millis(500);

/// A greeter backend started by the demo. Dropping it stops the server.
#[derive(Debug)]
pub struct DemoBackend {
    spec: BackendSpec,
    backend: GreeterBackend,
    health: HealthHandle,
    addr: SocketAddr,
    running: Option<RunningGreeter>,
}

impl DemoBackend {
    /// Binds `spec.listen` and serves a greeter configured by `spec`; random errors follow `seed`.
    pub async fn start(spec: BackendSpec, seed: u64) -> Result<DemoBackend, DemoError> {
        let behavior = Behavior::new(seed);
        behavior.set_latency(spec.latency);
        behavior.set_error_rate(spec.error_rate, Code::Unavailable);
        let backend = GreeterBackend::new(spec.name.clone()).with_behavior(behavior);
        let health = HealthHandle::new().await;
        let running = serve(spec.listen, backend.clone(), &health)
            .await
            .map_err(|source| DemoError::Backend {
                name: spec.name.clone(),
                source,
            })?;
        Ok(DemoBackend {
            addr: running.local_addr(),
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

    /// Stops it abruptly, like a crashed process: connections are cut, the client fails over.
    pub async fn kill(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    /// Stops it gracefully (GOAWAY, open calls get a short grace).
    pub async fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown(STOP_GRACE).await;
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
