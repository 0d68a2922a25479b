//! `xds-interop-client`: sends `UnaryCall` / `EmptyCall` at `--qps` through Meshwork channels for
//! an `xds:///` target and reports where they went (grpc/grpc `doc/xds-test-descriptions.md`,
//! "Client"; flags as grpc-go `interop/xds/client`).
//!
//! One ticker at `qps × num_channels` for the whole client (as grpc-go's: `--qps` is per
//! channel): each tick takes the next of `--num_channels` independent channels
//! ([`Mesh::unshared_channel`]: own resolver watches, balancer and pickers; the process's xDS
//! client and endpoint connections are shared, as in gRPC) and starts every configured RPC type
//! on it, each in its own task so that `keep-open` calls pile up as the
//! circuit-breaking case needs. The peer of an RPC is the response header `hostname` (or
//! `SimpleResponse.hostname`). The stats port serves [`super::stats_service`], CSDS
//! ([`super::csds`]), channelz ([`meshwork::channelz`]: the framework waits for a READY channel
//! to `--server` and an active ADS call through it) and health. `--secure_mode true` uses the
//! control plane's TLS settings (gRFC A29 xDS credentials, plaintext for clusters without them);
//! `false` (the default, as in gRPC's client) connects in plaintext whatever the clusters say.
//! Not supported: reflection.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use meshwork::bootstrap::Bootstrap;
use meshwork::channel::{ChannelError, ChannelOptions};
use meshwork::{Mesh, MeshChannel, MeshOptions};
use meshwork_proto::envoy::service::status::v3::client_status_discovery_service_server::ClientStatusDiscoveryServiceServer;
use meshwork_proto::grpc_testing::load_balancer_stats_service_server::LoadBalancerStatsServiceServer;
use meshwork_proto::grpc_testing::test_service_client::TestServiceClient;
use meshwork_proto::grpc_testing::xds_update_client_configure_service_server::XdsUpdateClientConfigureServiceServer;
use meshwork_proto::grpc_testing::{Empty, Payload, SimpleRequest};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::{Code, Request};

use super::csds::CsdsService;
use super::flags::{FlagError, RpcConfig, RpcType, parse_metadata, parse_rpcs, parse_timeout};
use super::server::HOSTNAME_HEADER;
use super::stats::{RpcOutcome, StatsHub};
use super::stats_service::{ConfigureService, StatsService};

/// Command line of `xds-interop-client` (gRPC's flag names; both documented spellings).
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "xds-interop-client",
    about = "gRPC xDS interop test client on Meshwork"
)]
pub struct ClientArgs {
    /// Target, e.g. `xds:///host:port`.
    #[arg(long, default_value = "localhost:8080")]
    pub server: String,
    /// Number of channels RPCs are spread over.
    #[arg(long = "num_channels", default_value_t = 1)]
    pub num_channels: u32,
    /// RPCs per second (each tick sends every configured RPC type).
    #[arg(long, default_value_t = 1)]
    pub qps: u32,
    /// Comma-separated RPC types: `UnaryCall`, `EmptyCall`.
    #[arg(long, default_value = "UnaryCall")]
    pub rpc: String,
    /// Comma-separated `Rpc:key:value` metadata.
    #[arg(long, default_value = "")]
    pub metadata: String,
    /// Per-RPC timeout: seconds (`20`) or a duration (`20s`).
    #[arg(
        long = "rpc_timeout_sec",
        visible_alias = "rpc_timeout",
        default_value = "20"
    )]
    pub rpc_timeout: String,
    /// Port of the stats, configure, CSDS and health services.
    #[arg(long = "stats_port", default_value_t = 8081)]
    pub stats_port: u16,
    /// Exit non-zero when an RPC fails after the first success.
    #[arg(long = "fail_on_failed_rpc", visible_alias = "fail_on_failed_rpcs", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub fail_on_failed_rpc: bool,
    /// Print each response.
    #[arg(long = "print_response", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub print_response: bool,
    /// xDS credentials (gRFC A29): `true` follows each cluster's TLS settings with plaintext as
    /// the fallback; `false` is plaintext everywhere.
    #[arg(long = "secure_mode", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub secure_mode: bool,
    /// Size of the `UnaryCall` request payload.
    #[arg(long = "request_payload_size", default_value_t = 0)]
    pub request_payload_size: u32,
    /// `response_size` asked of `UnaryCall`.
    #[arg(long = "response_payload_size", default_value_t = 0)]
    pub response_payload_size: i32,
    /// Accepted for compatibility; ignored.
    #[arg(long = "enable_csm_observability", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_csm_observability: Option<bool>,
}

/// Why the client could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A flag value is malformed or unsupported.
    #[error(transparent)]
    Flag(#[from] FlagError),
    /// An unsupported mode.
    #[error("{0}")]
    Unsupported(String),
    /// The mesh or a channel could not be made.
    #[error("cannot open a channel to `{target}`: {source}")]
    Channel {
        /// The target.
        target: String,
        /// Why.
        source: ChannelError,
    },
    /// The stats port could not be served.
    #[error("stats server on {addr} failed: {source}; pick a free --stats_port")]
    Stats {
        /// Its address.
        addr: SocketAddr,
        /// Why.
        source: tonic::transport::Error,
    },
    /// `--fail_on_failed_rpc` and an RPC failed after the first success.
    #[error(
        "RPC {rpc} failed after an earlier success with {code:?}: {message} (--fail_on_failed_rpc)"
    )]
    FailedRpc {
        /// Which RPC.
        rpc: &'static str,
        /// Its code.
        code: Code,
        /// Its message.
        message: String,
    },
}

impl ClientArgs {
    /// The RPC configuration the flags describe.
    pub fn rpc_config(&self) -> Result<RpcConfig, FlagError> {
        Ok(RpcConfig {
            types: parse_rpcs(&self.rpc)?,
            metadata: parse_metadata(&self.metadata)?,
            timeout: parse_timeout(&self.rpc_timeout)?,
        })
    }
}

/// Runs the client until `shutdown` resolves, the stats server fails, or (with
/// `--fail_on_failed_rpc`) an RPC fails after the first success.
pub async fn run(
    args: ClientArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ClientError> {
    let config = args.rpc_config()?;
    let default_timeout = config.timeout;
    let channel_err = |source| ClientError::Channel {
        target: args.server.clone(),
        source,
    };
    let bootstrap = Bootstrap::from_env().map_err(|e| channel_err(e.into()))?;
    let options = MeshOptions {
        channel: ChannelOptions {
            xds_security: args.secure_mode,
            ..ChannelOptions::default()
        },
        ..MeshOptions::default()
    };
    let mesh = Mesh::with_options(bootstrap, options).map_err(channel_err)?;
    let mut channels = Vec::new();
    for _ in 0..args.num_channels.max(1) {
        channels.push(
            mesh.unshared_channel(&args.server)
                .await
                .map_err(channel_err)?,
        );
    }
    let xds_client = mesh.xds_client().cloned().ok_or_else(|| {
        ClientError::Unsupported(
            "the bootstrap names no xDS server, so there is nothing for CSDS to report; set \
             GRPC_XDS_BOOTSTRAP to a bootstrap with xds_servers"
                .to_owned(),
        )
    })?;
    let (config_tx, config_rx) = watch::channel(Arc::new(config));
    let stats = StatsHub::default();
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, args.stats_port));
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let stats_server = tonic::transport::Server::builder()
        .add_service(health)
        .add_service(LoadBalancerStatsServiceServer::new(StatsService {
            stats: stats.clone(),
        }))
        .add_service(XdsUpdateClientConfigureServiceServer::new(
            ConfigureService {
                config: config_tx,
                default_timeout,
            },
        ))
        .add_service(ClientStatusDiscoveryServiceServer::new(CsdsService::new(
            xds_client,
        )))
        .add_service(mesh.channelz())
        .serve(addr);
    tracing::info!(target = %args.server, %addr, "xds-interop-client started");
    let sender = Sender {
        channels,
        config: config_rx,
        stats,
        request_payload_size: args.request_payload_size,
        response_payload_size: args.response_payload_size,
        print_response: args.print_response,
        fail_on_failed_rpc: args.fail_on_failed_rpc,
    };
    tokio::select! {
        served = stats_server => served.map_err(|source| ClientError::Stats { addr, source }),
        failed = sender.run(args.qps.saturating_mul(args.num_channels.max(1))) => Err(failed),
        () = shutdown => Ok(()),
    }
}

struct Sender {
    channels: Vec<MeshChannel>,
    config: watch::Receiver<Arc<RpcConfig>>,
    stats: StatsHub,
    request_payload_size: u32,
    response_payload_size: i32,
    print_response: bool,
    fail_on_failed_rpc: bool,
}

/// One call to make.
#[derive(Clone)]
struct Call {
    channel: MeshChannel,
    rpc: RpcType,
    metadata: MetadataMap,
    timeout: Duration,
    request_payload_size: u32,
    response_payload_size: i32,
}

impl Sender {
    /// Sends until an RPC fails after a success with `--fail_on_failed_rpc` (returned).
    async fn run(self, qps: u32) -> ClientError {
        let period = Duration::from_secs(1) / qps.max(1);
        let mut ticker = tokio::time::interval(period);
        let mut calls = JoinSet::new();
        let succeeded_once = Arc::new(AtomicBool::new(false));
        let (fatal_tx, mut fatal) = mpsc::channel(1);
        let mut next_channel = 0;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                Some(e) = fatal.recv() => return e,
            }
            while calls.try_join_next().is_some() {}
            let config = Arc::clone(&self.config.borrow());
            let Some(channel) = self.channels.get(next_channel % self.channels.len()) else {
                continue;
            };
            next_channel += 1;
            for &rpc in &config.types {
                let call = Call {
                    channel: channel.clone(),
                    rpc,
                    metadata: metadata_for(&config, rpc),
                    timeout: config.timeout,
                    request_payload_size: self.request_payload_size,
                    response_payload_size: self.response_payload_size,
                };
                let id = self.stats.start(rpc);
                let stats = self.stats.clone();
                let succeeded_once = Arc::clone(&succeeded_once);
                let fatal_tx = fatal_tx.clone();
                let (print, fail_on_failed) = (self.print_response, self.fail_on_failed_rpc);
                calls.spawn(async move {
                    let (outcome, message) = call.send().await;
                    if print {
                        println!(
                            "{} -> {:?} {:?} {message}",
                            rpc.method(),
                            outcome.code,
                            outcome.peer
                        );
                    }
                    if outcome.code == Code::Ok {
                        succeeded_once.store(true, Ordering::Relaxed);
                    } else if fail_on_failed && succeeded_once.load(Ordering::Relaxed) {
                        let _ = fatal_tx.try_send(ClientError::FailedRpc {
                            rpc: rpc.method(),
                            code: outcome.code,
                            message: message.clone(),
                        });
                    }
                    stats.finish(id, rpc, &outcome);
                });
            }
        }
    }
}

fn metadata_for(config: &RpcConfig, rpc: RpcType) -> MetadataMap {
    let mut map = MetadataMap::new();
    for (t, key, value) in &config.metadata {
        if *t != rpc {
            continue;
        }
        match (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            (Ok(k), Ok(v)) => {
                map.append(k, v);
            }
            _ => tracing::warn!(%key, %value, "skipping metadata that is not a valid header"),
        }
    }
    map
}

impl Call {
    fn request<T>(&self, body: T) -> Request<T> {
        let mut request = Request::new(body);
        *request.metadata_mut() = self.metadata.clone();
        request.set_timeout(self.timeout);
        request
    }

    /// Makes the call; returns its outcome and a printable summary.
    async fn send(self) -> (RpcOutcome, String) {
        let mut client = TestServiceClient::new(self.channel.clone());
        let header_peer = |m: &MetadataMap| {
            let peer = m
                .get(HOSTNAME_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (peer, ascii_entries(m))
        };
        let result = match self.rpc {
            RpcType::EmptyCall => client
                .empty_call(self.request(Empty {}))
                .await
                .map(|r| (header_peer(r.metadata()), "Empty".to_owned())),
            RpcType::UnaryCall => {
                let body = SimpleRequest {
                    fill_server_id: true,
                    response_size: self.response_payload_size,
                    payload: (self.request_payload_size > 0).then(|| Payload {
                        r#type: 0,
                        body: vec![0; self.request_payload_size as usize],
                    }),
                    ..SimpleRequest::default()
                };
                client.unary_call(self.request(body)).await.map(|r| {
                    let (peer, metadata) = header_peer(r.metadata());
                    let body = r.into_inner();
                    let peer =
                        peer.or_else(|| Some(body.hostname.clone()).filter(|h| !h.is_empty()));
                    ((peer, metadata), format!("{body:?}"))
                })
            }
        };
        match result {
            Ok(((peer, metadata), summary)) => (
                RpcOutcome {
                    peer,
                    code: Code::Ok,
                    metadata,
                },
                summary,
            ),
            Err(status) => (
                RpcOutcome {
                    peer: None,
                    code: status.code(),
                    metadata: Vec::new(),
                },
                status.message().to_owned(),
            ),
        }
    }
}

/// The text entries of a response's metadata (tonic merges a unary call's trailers into it).
fn ascii_entries(map: &MetadataMap) -> Vec<(String, String)> {
    map.iter()
        .filter_map(|entry| match entry {
            tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned()))
            }
            tonic::metadata::KeyAndValueRef::Binary(..) => None,
        })
        .collect()
}
