//! The backends of the interop cases: `xds-interop-server` processes on loopback, started on
//! ports below the ephemeral range, restartable on the same ports, and the mesh-file snippets
//! (endpoints, localities, health) that point the dev control plane at them.

use super::*;

/// A running `xds-interop-server`; killed on drop.
pub struct Backend {
    /// Its `hostname`.
    pub name: String,
    /// Its `TestService` port.
    pub port: u16,
    /// Its maintenance port.
    pub maintenance_port: u16,
    server_id: String,
    child: Child,
}

/// Starts `n` servers named `backend-<i>` and waits until their health services answer.
pub async fn start_backends(n: usize) -> Result<Vec<Backend>> {
    start_backends_with(n, stable_port).await
}

/// Like [`start_backends`]; its ports are outside the kernel's ephemeral range, so that
/// [`Backend::restart`] can bind them again: while a backend is down, an ephemeral port of its
/// could otherwise become the local port of some outgoing connection.
pub async fn start_restartable_backends(n: usize) -> Result<Vec<Backend>> {
    start_backends_with(n, stable_port).await
}

/// A free port (probed on every interface, as the children listen) below the ephemeral range
/// (Linux `ip_local_port_range`).
pub fn stable_port() -> Result<u16> {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let range = 10_000..low.max(10_001);
    for _ in 0..200 {
        let port = fastrand::u16(range.clone());
        if TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port in {range:?} after 200 tries")
}

async fn start_backends_with(n: usize, port: fn() -> Result<u16>) -> Result<Vec<Backend>> {
    let mut backends = Vec::new();
    for i in 0..n {
        let (port, maintenance_port) = (port()?, port()?);
        let name = format!("backend-{i}");
        let server_id = format!("server-{i}");
        let child = spawn_backend(&name, &server_id, port, maintenance_port)?;
        backends.push(Backend {
            name,
            port,
            maintenance_port,
            server_id,
            child,
        });
    }
    for b in &backends {
        connect(b.maintenance_port, Duration::from_secs(10)).await?;
    }
    Ok(backends)
}

fn spawn_backend(name: &str, server_id: &str, port: u16, maintenance_port: u16) -> Result<Child> {
    Command::new(env!("CARGO_BIN_EXE_xds-interop-server"))
        .args(["--port", &port.to_string()])
        .args(["--maintenance_port", &maintenance_port.to_string()])
        .args(["--server_id", server_id])
        .args(["--host_name_override", name])
        .args(["--secure_mode", "false"])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("spawn xds-interop-server")
}

/// Names of `backends`.
pub fn names(backends: &[Backend]) -> Vec<String> {
    backends.iter().map(|b| b.name.clone()).collect()
}

/// YAML for the localities of a cluster over `backends`.
pub fn endpoints_yaml(backends: &[Backend]) -> String {
    endpoints_yaml_with_health(backends, &[])
}

/// Like [`endpoints_yaml`], with the backends named in `unhealthy` marked UNHEALTHY in EDS (what a
/// control plane's health checker publishes for a NOT_SERVING server).
pub fn endpoints_yaml_with_health(backends: &[Backend], unhealthy: &[&str]) -> String {
    let mut y = String::from("  localities:\n  - locality: {zone: local}\n    endpoints:\n");
    for b in backends {
        let health = if unhealthy.contains(&b.name.as_str()) {
            "unhealthy"
        } else {
            "healthy"
        };
        y.push_str(&format!(
            "    - {{address: '127.0.0.1:{}', health: {health}}}\n",
            b.port
        ));
    }
    y
}

/// Mesh keys making the control plane health-check a cluster's endpoints the way Traffic
/// Director does in gRPC's framework (use with [`localities_yaml`], which points the probes at the
/// maintenance ports).
pub const HEALTH_CHECKED: &str = "  health_check: {interval: 200ms, timeout: 1s}\n";

/// YAML for the localities of a cluster: one per `(zone, priority, backends)`, each endpoint
/// health-checked (when the cluster has `health_check`) on its maintenance port.
pub fn localities_yaml(groups: &[(&str, u32, &[Backend])]) -> String {
    let mut y = String::from("  localities:\n");
    for (zone, priority, backends) in groups {
        y.push_str(&format!(
            "  - locality: {{zone: {zone}}}\n    priority: {priority}\n    endpoints:\n"
        ));
        for b in *backends {
            y.push_str(&format!(
                "    - {{address: '127.0.0.1:{}', health_check_port: {}}}\n",
                b.port, b.maintenance_port
            ));
        }
    }
    y
}

impl Backend {
    /// Kills the server process (as a stopped VM or pod would vanish) and waits until it is gone.
    pub async fn stop(&mut self) -> Result<()> {
        self.child.kill().await.context("kill xds-interop-server")
    }

    /// Starts the server again on the same ports and waits until its health service answers.
    pub async fn restart(&mut self) -> Result<()> {
        self.child = spawn_backend(
            &self.name,
            &self.server_id,
            self.port,
            self.maintenance_port,
        )?;
        connect(self.maintenance_port, Duration::from_secs(10)).await?;
        Ok(())
    }

    /// `XdsUpdateHealthService.SetServing` / `SetNotServing` on the maintenance port.
    pub async fn set_serving(&self, serving: bool) -> Result<()> {
        let channel = connect(self.maintenance_port, Duration::from_secs(5)).await?;
        let mut client = XdsUpdateHealthServiceClient::new(channel);
        if serving {
            client.set_serving(Empty {}).await?;
        } else {
            client.set_not_serving(Empty {}).await?;
        }
        Ok(())
    }

    /// The server's overall `grpc.health.v1` status, as a control plane's health check sees it.
    pub async fn serving(&self) -> Result<bool> {
        let channel = connect(self.maintenance_port, Duration::from_secs(5)).await?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await?
            .into_inner();
        Ok(response.status == ServingStatus::Serving as i32)
    }
}
