//! `--secure_mode true`: `TestService` on `--port` through an xDS-enabled server (gRFC A36) whose
//! Listener comes from the control plane named by `GRPC_XDS_BOOTSTRAP` (its
//! `server_listener_resource_name_template` with `0.0.0.0:<port>`), with that Listener's TLS or
//! mTLS (gRFC A29). The maintenance port stays plaintext and, as in grpc-go, must differ from
//! `--port`: the health and `XdsUpdateHealthService` calls must work while `TestService` is
//! NOT_SERVING.

use std::net::{Ipv4Addr, SocketAddr};

use meshwork::Mesh;
use tonic::service::Routes;

use super::ServerError;

/// Serves `routes` through the xDS-enabled server on `port` until `shutdown`.
pub(super) async fn serve(
    port: u16,
    routes: Routes,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let mesh = Mesh::from_env()
        .await
        .map_err(|e| ServerError::Xds(e.to_string()))?;
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let server = mesh.xds_server(addr).await.map_err(|e| match e {
        meshwork::server::XdsServerError::Bind { addr, source } => {
            ServerError::Bind { addr, source }
        }
        other => ServerError::Xds(other.to_string()),
    })?;
    tracing::info!(
        port,
        listener = server.resource_name(),
        "TestService behind an xDS-enabled server (secure mode)"
    );
    server
        .serve(routes, shutdown)
        .await
        .map_err(|e| ServerError::Xds(e.to_string()))
}

/// `--secure_mode true` needs distinct ports (grpc-go's rule).
pub(super) fn check_ports(port: u16, maintenance_port: u16) -> Result<(), ServerError> {
    if port == maintenance_port {
        return Err(ServerError::Unsupported(format!(
            "--secure_mode true needs --maintenance_port different from --port (both are {port}): TestService is served through the xDS-enabled server while health stays plaintext; pick another maintenance port"
        )));
    }
    Ok(())
}
