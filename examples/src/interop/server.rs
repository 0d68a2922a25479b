//! `xds-interop-server`: the backend gRPC's xDS interop framework steers (grpc-go
//! `interop/xds/server` behaviour, grpc/grpc `doc/xds-test-descriptions.md` "Server").
//!
//! Serves `grpc.testing.TestService` on `--port`: every method honours `rpc-behavior`
//! ([`super::behavior`]) and sets the response header `hostname`; `UnaryCall` also fills
//! `hostname`, `server_id` and a zero payload of `response_size` bytes and echoes a requested
//! `response_status`; the streaming methods are in [`super::streaming`]; `UnimplementedCall`
//! answers UNIMPLEMENTED. On `--maintenance_port` (the same server when the ports are equal) it
//! serves `grpc.health.v1.Health` and `XdsUpdateHealthService`, whose `SetServing` /
//! `SetNotServing` flip the health status. With `--secure_mode true`, `TestService` is served
//! through an xDS-enabled server (gRFC A36, A29 TLS from the control plane; see [`secure`]) and
//! the maintenance port, which must then differ from `--port`, stays plaintext. No hook service.

use std::net::{Ipv4Addr, SocketAddr};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use meshwork_proto::grpc_testing::test_service_server::{TestService, TestServiceServer};
use meshwork_proto::grpc_testing::xds_update_health_service_server::{
    XdsUpdateHealthService, XdsUpdateHealthServiceServer,
};
use meshwork_proto::grpc_testing::{
    Empty, HookRequest, HookResponse, SimpleRequest, SimpleResponse, StreamingInputCallRequest,
    StreamingInputCallResponse, StreamingOutputCallRequest,
};
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::{Request, Response, Status, Streaming};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use super::behavior::behave;
use super::streaming::{self, ResponseStream};

mod secure;

/// Response header naming the server that answered.
pub const HOSTNAME_HEADER: &str = "hostname";

/// Command line of `xds-interop-server` (gRPC's flag names).
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "xds-interop-server",
    about = "gRPC xDS interop test server on Meshwork"
)]
pub struct ServerArgs {
    /// Port of `TestService`.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Port of health and `XdsUpdateHealthService` (the same server when equal to `--port`).
    #[arg(long = "maintenance_port", default_value_t = 8081)]
    pub maintenance_port: u16,
    /// Value of `SimpleResponse.server_id`.
    #[arg(long = "server_id", default_value = "meshwork_server")]
    pub server_id: String,
    /// Serve `TestService` through an xDS-enabled server with xDS-driven TLS (gRFC A36, A29).
    #[arg(long = "secure_mode", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub secure_mode: bool,
    /// The name reported as `hostname` (defaults to the machine's host name).
    #[arg(long = "host_name_override")]
    pub host_name_override: Option<String>,
    /// Address family to listen on (`ipv4`, `ipv6`, `ipv4_ipv6`); accepted, listens on IPv4.
    #[arg(long = "address_type")]
    pub address_type: Option<String>,
    /// Accepted for compatibility; ignored.
    #[arg(long = "enable_csm_observability", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_csm_observability: Option<bool>,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// An unsupported flag value.
    #[error("{0}")]
    Unsupported(String),
    /// The xDS-enabled server (secure mode) could not start or stopped.
    #[error("xDS-enabled server: {0}")]
    Xds(String),
    /// A port could not be bound.
    #[error("cannot listen on {addr}: {source}; pick a free port")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Accepting connections failed.
    #[error("server on {addr} cannot accept connections: {source}")]
    Accept {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// `TestService` of one interop server.
#[derive(Debug, Clone)]
pub struct InteropTestService {
    hostname: String,
    server_id: String,
}

/// `XdsUpdateHealthService`: flips the health status the server reports.
#[derive(Debug, Clone)]
pub struct HealthSwitch {
    reporter: HealthReporter,
}

impl InteropTestService {
    /// A service answering as `hostname` with `server_id`.
    pub fn new(hostname: impl Into<String>, server_id: impl Into<String>) -> Self {
        InteropTestService {
            hostname: hostname.into(),
            server_id: server_id.into(),
        }
    }

    fn answer<T>(&self, body: T) -> Response<T> {
        let mut response = Response::new(body);
        if let Ok(value) = self.hostname.parse() {
            response.metadata_mut().insert(HOSTNAME_HEADER, value);
        }
        response
    }
}

#[tonic::async_trait]
impl TestService for InteropTestService {
    async fn empty_call(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        behave(request.metadata(), &self.hostname).await?;
        Ok(self.answer(Empty {}))
    }

    async fn unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        behave(request.metadata(), &self.hostname).await?;
        let req = request.into_inner();
        if let Some(status) = streaming::requested_status(req.response_status.as_ref()) {
            return Err(status);
        }
        let payload = streaming::payload(req.response_size)?;
        Ok(self.answer(SimpleResponse {
            payload,
            server_id: self.server_id.clone(),
            hostname: self.hostname.clone(),
            ..SimpleResponse::default()
        }))
    }

    async fn cacheable_unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        self.unary_call(request).await
    }

    type StreamingOutputCallStream = ResponseStream;

    async fn streaming_output_call(
        &self,
        request: Request<StreamingOutputCallRequest>,
    ) -> Result<Response<ResponseStream>, Status> {
        behave(request.metadata(), &self.hostname).await?;
        Ok(self.answer(streaming::output(request.into_inner())))
    }

    async fn streaming_input_call(
        &self,
        request: Request<Streaming<StreamingInputCallRequest>>,
    ) -> Result<Response<StreamingInputCallResponse>, Status> {
        behave(request.metadata(), &self.hostname).await?;
        let aggregated_payload_size = streaming::input(request.into_inner()).await?;
        Ok(self.answer(StreamingInputCallResponse {
            aggregated_payload_size,
        }))
    }

    type FullDuplexCallStream = ResponseStream;

    async fn full_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        behave(request.metadata(), &self.hostname).await?;
        Ok(self.answer(streaming::full_duplex(request.into_inner())))
    }

    type HalfDuplexCallStream = ResponseStream;

    async fn half_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        behave(request.metadata(), &self.hostname).await?;
        Ok(self.answer(streaming::half_duplex(request.into_inner())))
    }

    async fn unimplemented_call(&self, _: Request<Empty>) -> Result<Response<Empty>, Status> {
        Err(unimplemented("UnimplementedCall"))
    }
}

fn unimplemented(method: &str) -> Status {
    Status::unimplemented(format!(
        "{method} is not implemented by the Meshwork xDS interop server"
    ))
}

impl HealthSwitch {
    /// A switch over `reporter`.
    pub fn new(reporter: HealthReporter) -> Self {
        HealthSwitch { reporter }
    }

    /// Reports `status` for the whole server and for `grpc.testing.TestService`.
    pub async fn set(&self, status: ServingStatus) {
        let test_service = <TestServiceServer<InteropTestService> as NamedService>::NAME;
        for service in ["", test_service] {
            self.reporter.set_service_status(service, status).await;
        }
    }
}

#[tonic::async_trait]
impl XdsUpdateHealthService for HealthSwitch {
    async fn set_serving(&self, _: Request<Empty>) -> Result<Response<Empty>, Status> {
        self.set(ServingStatus::Serving).await;
        Ok(Response::new(Empty {}))
    }

    async fn set_not_serving(&self, _: Request<Empty>) -> Result<Response<Empty>, Status> {
        self.set(ServingStatus::NotServing).await;
        Ok(Response::new(Empty {}))
    }

    async fn send_hook_request(
        &self,
        _: Request<HookRequest>,
    ) -> Result<Response<HookResponse>, Status> {
        Err(unimplemented("XdsUpdateHealthService.SendHookRequest"))
    }
}

/// The machine's host name: `HOSTNAME`, else the kernel's, else `localhost`.
pub fn machine_hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Runs the server until `shutdown` resolves or a server fails.
pub async fn run(
    args: ServerArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServerError> {
    if args.secure_mode {
        secure::check_ports(args.port, args.maintenance_port)?;
    }
    let hostname = args
        .host_name_override
        .clone()
        .unwrap_or_else(machine_hostname);
    let (reporter, health) = tonic_health::server::health_reporter();
    let switch = HealthSwitch::new(reporter);
    switch.set(ServingStatus::Serving).await;
    let test = TestServiceServer::new(InteropTestService::new(&hostname, &args.server_id));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let trigger = async move {
        shutdown.await;
        stop.send_replace(true);
        Ok::<(), ServerError>(())
    };
    let maintenance_routes =
        Routes::new(health).add_service(XdsUpdateHealthServiceServer::new(switch));
    if args.secure_mode {
        let maintenance = bind(args.maintenance_port).await?;
        tokio::try_join!(
            trigger,
            secure::serve(args.port, Routes::new(test), wait()),
            serve(maintenance_routes, maintenance, wait())
        )?;
        return Ok(());
    }
    let main = bind(args.port).await?;
    tracing::info!(port = args.port, %hostname, "xds-interop-server listening");
    if args.maintenance_port == args.port {
        let routes = maintenance_routes.add_service(test);
        tokio::try_join!(trigger, serve(routes, main, wait()))?;
        return Ok(());
    }
    let maintenance = bind(args.maintenance_port).await?;
    tokio::try_join!(
        trigger,
        serve(Routes::new(test), main, wait()),
        serve(maintenance_routes, maintenance, wait())
    )?;
    Ok(())
}

async fn bind(port: u16) -> Result<(SocketAddr, TcpListener), ServerError> {
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    Ok((addr, listener))
}

/// Serves `routes` over HTTP/2 on `listener` until `shutdown`, then drops every connection.
///
/// Plain hyper rather than tonic's transport server: that one enforces `grpc-timeout` itself and
/// answers CANCELLED, where gRPC servers answer DEADLINE_EXCEEDED (which the interop `timeout`
/// case expects); the handlers here enforce the deadline ([`behave`]). No limit on concurrent
/// streams, so `keep-open` calls can pile up as the circuit-breaking case needs.
async fn serve(
    routes: Routes,
    (addr, listener): (SocketAddr, TcpListener),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServerError> {
    let service = TowerToHyperService::new(routes);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => accepted.map_err(|source| ServerError::Accept { addr, source })?,
        };
        while connections.try_join_next().is_some() {}
        let service = service.clone();
        connections.spawn(async move {
            let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            http2.max_concurrent_streams(None);
            if let Err(e) = http2.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
}
