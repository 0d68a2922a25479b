//! [`DemoClient`]: the demo's traffic: a task sending `SayHello` at a steady rate through the
//! Meshwork SDK (`Mesh` + `mesh.channel("xds:///greeter:50051")` + the tonic `GreeterClient`,
//! exactly as a user's service would) and recording every outcome in a [`Recorder`].
//!
//! Open-loop with a cap: one RPC per tick whatever the latency (ticks missed by a busy runtime
//! are caught up, so the average rate holds), at most `max_in_flight` open; a tick with none free
//! is shed (counted, not queued), so a slow mesh shows up as shed load instead of a silently
//! lower rate. A fraction of RPCs carries `x-canary: yes` to exercise the
//! header route. The client is one service of the demo (admin service name [`CLIENT_SERVICE`]):
//! its `Mesh`, the one that owns the xDS channel, serves an admin endpoint where client-side
//! fault rules are set. Draws are seeded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use meshwork::admin::AdminHandle;
use meshwork::bootstrap::{Bootstrap, Node, XdsServer};
use meshwork::channel::ChannelOptions;
use meshwork::connection::ConnectOptions;
use meshwork::{Mesh, MeshChannel, MeshOptions};
use meshwork_proto::helloworld::HelloRequest;
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tonic::Code;
use tonic::metadata::MetadataValue;

use super::recorder::{Outcome, Recorder};
use super::{CANARY_HEADER, DemoConfig, DemoError, TARGET, admin};

/// The xDS node id of the demo client.
pub const CLIENT_NODE_ID: &str = "meshwork-demo-client";

/// The admin service name of the demo client.
pub const CLIENT_SERVICE: &str = "demo-client";

/// Extra time past an RPC's own deadline before the client gives up on it locally.
const DEADLINE_SLACK: Duration = Duration::from_millis(500);

/// The running traffic generator. Dropping it stops the task (and the `Mesh` it owns).
#[derive(Debug)]
pub struct DemoClient {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    drain: Duration,
    admin_addr: SocketAddr,
    admin: Option<AdminHandle>,
}

/// What the task needs from the configuration.
#[derive(Debug, Clone, Copy)]
struct Pace {
    tick: Duration,
    max_in_flight: usize,
    rpc_timeout: Duration,
    canary_fraction: f64,
    seed: u64,
}

impl DemoClient {
    /// Builds a `Mesh` pointed at the control plane at `control_plane`, serves its admin endpoint
    /// (mutations need `admin_token`), opens the demo target and starts sending.
    pub async fn start(
        control_plane: SocketAddr,
        config: &DemoConfig,
        recorder: Recorder,
        admin_token: &str,
    ) -> Result<DemoClient, DemoError> {
        let bootstrap = Bootstrap::new(
            XdsServer::insecure(control_plane.to_string()).with_feature("xds_v3"),
            Node::new(CLIENT_NODE_ID),
        );
        let options = MeshOptions {
            channel: ChannelOptions {
                seed: Some(config.seed),
                ..ChannelOptions::default()
            },
            connect: ConnectOptions {
                seed: Some(config.seed),
                ..ConnectOptions::default()
            },
            ..MeshOptions::default()
        };
        let mesh = Mesh::builder()
            .bootstrap(bootstrap)
            .options(options)
            .service_name(CLIENT_SERVICE)
            .build()
            .map_err(DemoError::Client)?;
        let admin = admin::serve(&mesh, admin_token).await?;
        let channel = mesh.channel(TARGET).await.map_err(DemoError::Client)?;
        let pace = Pace {
            tick: config.tick(),
            max_in_flight: config.max_in_flight,
            rpc_timeout: config.rpc_timeout,
            canary_fraction: config.canary_fraction,
            seed: config.seed,
        };
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(mesh, channel, pace, recorder, stop_rx));
        Ok(DemoClient {
            stop,
            task: Some(task),
            drain: config.rpc_timeout + DEADLINE_SLACK,
            admin_addr: admin.local_addr(),
            admin: Some(admin),
        })
    }

    /// Where its admin endpoint listens.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Stops sending, lets open RPCs finish (bounded by their deadline) and drops the `Mesh`.
    pub async fn shutdown(&mut self) {
        self.stop.send_replace(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(self.drain + DEADLINE_SLACK, &mut task)
                .await
                .is_err()
        {
            tracing::warn!("demo client did not stop in time; aborting it");
            task.abort();
        }
        if let Some(admin) = self.admin.take() {
            // An attached meshtop keeps a Watch stream open: past the slack, dropping aborts it.
            let _ = tokio::time::timeout(DEADLINE_SLACK, admin.shutdown()).await;
        }
    }
}

impl Drop for DemoClient {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn run(
    mesh: Mesh,
    channel: MeshChannel,
    pace: Pace,
    recorder: Recorder,
    mut stop: watch::Receiver<bool>,
) {
    let client = GreeterClient::new(channel);
    let permits = Arc::new(Semaphore::new(pace.max_in_flight));
    let mut in_flight = JoinSet::new();
    let mut rng = fastrand::Rng::with_seed(pace.seed);
    let mut ticks = tokio::time::interval(pace.tick);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut sent: u64 = 0;
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => break,
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            _ = ticks.tick() => {
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    recorder.shed();
                    continue;
                };
                sent += 1;
                let canary = rng.f64() < pace.canary_fraction;
                let call = say_hello(client.clone(), sent, canary, pace.rpc_timeout);
                let recorder = recorder.clone();
                in_flight.spawn(async move {
                    let started = Instant::now();
                    let outcome = call.await;
                    recorder.record(Instant::now(), started.elapsed(), &outcome);
                    drop(permit);
                });
            }
        }
    }
    let drain = pace.rpc_timeout + DEADLINE_SLACK;
    let _ = tokio::time::timeout(drain, async {
        while in_flight.join_next().await.is_some() {}
    })
    .await;
    // Whatever is left is aborted with the set; the mesh (ADS stream, connections) goes last.
    drop(in_flight);
    drop(mesh);
}

async fn say_hello(
    mut client: GreeterClient<MeshChannel>,
    n: u64,
    canary: bool,
    timeout: Duration,
) -> Outcome {
    let mut request = tonic::Request::new(HelloRequest {
        name: format!("demo #{n}"),
    });
    request.set_timeout(timeout);
    if canary {
        request
            .metadata_mut()
            .insert(CANARY_HEADER, MetadataValue::from_static("yes"));
    }
    match tokio::time::timeout(timeout + DEADLINE_SLACK, client.say_hello(request)).await {
        Ok(Ok(reply)) => Outcome::Reply {
            backend: reply.into_inner().backend,
        },
        Ok(Err(status)) => Outcome::Failed {
            code: status.code(),
            message: status.message().to_owned(),
        },
        Err(_) => Outcome::Failed {
            code: Code::DeadlineExceeded,
            message: format!("no answer within {timeout:?} (client-side bound)"),
        },
    }
}
