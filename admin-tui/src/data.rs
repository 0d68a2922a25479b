//! The data layer: one task per admin endpoint. It connects, calls `GetInfo`, lists the fault
//! rules and the xDS config dump, then follows the `Watch` stream, turning every snapshot and
//! event into an [`Action`] on one mpsc channel; it runs the operator's requests (set / clear a
//! fault, refresh) on the same connection. When anything fails it reports why, in words that say
//! what to do, and reconnects with exponential backoff (gRPC connection-backoff shape, without
//! jitter so tests are deterministic).
//!
//! It does not touch the UI state: the shell applies the actions. Auth is a bearer token in the
//! `authorization` metadata, as the admin API requires for mutations.

use std::time::Duration;

use meshwork_proto::admin::v1::admin_client::AdminClient;
use meshwork_proto::admin::v1::{
    ClearFaultRequest, FaultRuleSpec, GetConfigDumpRequest, GetInfoRequest, GetSnapshotRequest,
    ListFaultsRequest, SetFaultRequest, WatchRequest, event::Kind, watch_update::Update,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::app::form::describe_spec;
use crate::app::{Action, DataEvent};

mod errors;

pub use errors::{TokenError, describe_connect_error, describe_status};

/// An operator request for one endpoint's task.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Install a fault rule.
    SetFault(FaultRuleSpec),
    /// Remove a fault rule.
    ClearFault(u64),
    /// List faults and fetch the config dump again.
    Refresh,
}

/// Reconnect timing: the wait starts at `initial`, grows by `multiplier` per failure up to `max`,
/// and goes back to `initial` after a successful connection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First wait.
    pub initial: Duration,
    /// Growth per failure.
    pub multiplier: f64,
    /// Cap.
    pub max: Duration,
}

/// How a task talks to its endpoint.
#[derive(Debug, Clone)]
pub struct TaskConfig {
    /// Reconnect timing.
    pub backoff: Backoff,
    /// Snapshot interval asked of Watch.
    pub interval: Duration,
    /// Dial timeout.
    pub connect_timeout: Duration,
    /// The `authorization` value (`Bearer …`), if a token was given.
    pub auth: Option<MetadataValue<Ascii>>,
}

/// A running endpoint task. Dropping it stops the task.
#[derive(Debug)]
pub struct EndpointHandle {
    requests: mpsc::Sender<Request>,
    task: JoinHandle<()>,
}

#[derive(Clone)]
struct Auth(Option<MetadataValue<Ascii>>);

type Client = AdminClient<InterceptedService<Channel, Auth>>;

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            multiplier: 1.6,
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The wait after the `failures`-th consecutive failure (1-based).
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = self
            .multiplier
            .powi(failures.saturating_sub(1).min(64) as i32);
        self.initial.mul_f64(exp).min(self.max)
    }
}

impl TaskConfig {
    /// Defaults (1 s snapshots, 5 s dial timeout, default backoff) with an optional token.
    pub fn new(token: Option<&str>) -> Result<Self, TokenError> {
        let auth = token
            .map(|t| {
                let t = t.trim();
                if !t.chars().all(|c| c.is_ascii_graphic()) {
                    return Err(TokenError::NotAscii);
                }
                MetadataValue::try_from(format!("Bearer {t}")).map_err(|_| TokenError::NotAscii)
            })
            .transpose()?;
        Ok(TaskConfig {
            backoff: Backoff::default(),
            interval: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            auth,
        })
    }
}

impl EndpointHandle {
    /// Starts the task for endpoint `index` at `addr`, reporting on `actions`.
    pub fn spawn(
        index: usize,
        addr: String,
        config: TaskConfig,
        actions: mpsc::Sender<Action>,
    ) -> Self {
        let (requests, rx) = mpsc::channel(16);
        let task = tokio::spawn(run(index, addr, config, actions, rx));
        EndpointHandle { requests, task }
    }

    /// Queues a request; `false` when the task is gone or busy (16 pending).
    pub fn request(&self, request: Request) -> bool {
        self.requests.try_send(request).is_ok()
    }
}

impl Drop for EndpointHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Interceptor for Auth {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// Reports to the shell; `Err` when the shell is gone and the task should end.
struct Reporter {
    index: usize,
    tx: mpsc::Sender<Action>,
}

impl Reporter {
    async fn send(&self, event: DataEvent) -> Result<(), Gone> {
        self.tx
            .send(Action::Data {
                endpoint: self.index,
                event,
            })
            .await
            .map_err(|_| Gone)
    }
}

/// The shell went away.
struct Gone;

/// Why a session ended.
enum End {
    Failed { error: String, was_connected: bool },
    Gone,
}

async fn run(
    index: usize,
    addr: String,
    config: TaskConfig,
    tx: mpsc::Sender<Action>,
    mut requests: mpsc::Receiver<Request>,
) {
    let reporter = Reporter { index, tx };
    let mut failures = 0u32;
    loop {
        if reporter
            .send(DataEvent::Connecting {
                attempt: failures + 1,
            })
            .await
            .is_err()
        {
            return;
        }
        let (error, was_connected) = match session(&addr, &config, &reporter, &mut requests).await {
            End::Gone => return,
            End::Failed {
                error,
                was_connected,
            } => (error, was_connected),
        };
        failures = if was_connected { 1 } else { failures + 1 };
        let retry_in = config.backoff.delay(failures);
        if reporter
            .send(DataEvent::Failed { error, retry_in })
            .await
            .is_err()
        {
            return;
        }
        let sleep = tokio::time::sleep(retry_in);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                req = requests.recv() => {
                    let Some(req) = req else { return };
                    let msg = format!("not connected to {addr}; {} not sent", describe_request(&req));
                    if reporter.send(DataEvent::CommandResult(Err(msg))).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

async fn session(
    addr: &str,
    config: &TaskConfig,
    reporter: &Reporter,
    requests: &mut mpsc::Receiver<Request>,
) -> End {
    let failed = |error: String, was_connected| End::Failed {
        error,
        was_connected,
    };
    let uri = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    };
    let endpoint = match Endpoint::from_shared(uri) {
        Ok(e) => e.connect_timeout(config.connect_timeout),
        Err(e) => {
            return failed(
                format!("`{addr}` is not a valid address ({e}); expected host:port"),
                false,
            );
        }
    };
    let channel = match endpoint.connect().await {
        Ok(c) => c,
        Err(e) => return failed(describe_connect_error(addr, &e), false),
    };
    let mut client = AdminClient::with_interceptor(channel, Auth(config.auth.clone()));
    let has_token = config.auth.is_some();
    let info = match client.get_info(GetInfoRequest {}).await {
        Ok(r) => r.into_inner(),
        Err(s) => return failed(describe_status(addr, &s, has_token), false),
    };
    if reporter
        .send(DataEvent::Connected(Box::new(info)))
        .await
        .is_err()
    {
        return End::Gone;
    }
    if refresh(&mut client, reporter).await.is_err() {
        return End::Gone;
    }
    let watch = WatchRequest {
        interval: Some(envoy_types::pb::google::protobuf::Duration {
            seconds: i64::try_from(config.interval.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(config.interval.subsec_nanos()).unwrap_or(0),
        }),
        snapshot: Some(GetSnapshotRequest {
            targets: Vec::new(),
            omit_endpoints: false,
        }),
    };
    let mut stream = match client.watch(watch).await {
        Ok(r) => r.into_inner(),
        Err(s) => return failed(describe_status(addr, &s, has_token), true),
    };
    loop {
        tokio::select! {
            msg = stream.message() => {
                let update = match msg {
                    Ok(Some(u)) => u,
                    Ok(None) => return failed(format!("{addr} ended the Watch stream (process stopping?)"), true),
                    Err(s) => return failed(describe_status(addr, &s, has_token), true),
                };
                if on_update(&mut client, reporter, update).await.is_err() {
                    return End::Gone;
                }
            }
            req = requests.recv() => {
                let Some(req) = req else { return End::Gone };
                let result = run_request(&mut client, addr, has_token, &req).await;
                if reporter.send(DataEvent::CommandResult(result)).await.is_err() {
                    return End::Gone;
                }
                if refresh(&mut client, reporter).await.is_err() {
                    return End::Gone;
                }
            }
        }
    }
}

async fn on_update(
    client: &mut Client,
    reporter: &Reporter,
    update: meshwork_proto::admin::v1::WatchUpdate,
) -> Result<(), Gone> {
    match update.update {
        Some(Update::Snapshot(s)) => reporter.send(DataEvent::Snapshot(Box::new(s))).await,
        Some(Update::Event(e)) => {
            let refetch = matches!(
                e.kind,
                Some(Kind::XdsUpdate(_) | Kind::XdsNack(_) | Kind::FaultRuleChanged(_))
            );
            reporter.send(DataEvent::Event(Box::new(e))).await?;
            if refetch {
                refresh(client, reporter).await?;
            }
            Ok(())
        }
        None => Ok(()),
    }
}

/// Lists faults and fetches the config dump; failures here are not fatal (the Watch stream
/// decides whether the connection is alive).
async fn refresh(client: &mut Client, reporter: &Reporter) -> Result<(), Gone> {
    if let Ok(r) = client.list_faults(ListFaultsRequest {}).await {
        reporter.send(DataEvent::Faults(r.into_inner())).await?;
    }
    if let Ok(r) = client
        .get_config_dump(GetConfigDumpRequest {
            type_urls: Vec::new(),
        })
        .await
    {
        reporter.send(DataEvent::ConfigDump(r.into_inner())).await?;
    }
    Ok(())
}

async fn run_request(
    client: &mut Client,
    addr: &str,
    has_token: bool,
    req: &Request,
) -> Result<String, String> {
    let status = match req {
        Request::SetFault(spec) => match client
            .set_fault(SetFaultRequest {
                spec: Some(spec.clone()),
            })
            .await
        {
            Ok(r) => {
                let id = r.into_inner().rule.map_or(0, |r| r.id);
                return Ok(format!("fault #{id} set: {}", describe_spec(spec)));
            }
            Err(s) => s,
        },
        Request::ClearFault(id) => match client.clear_fault(ClearFaultRequest { id: *id }).await {
            Ok(_) => return Ok(format!("fault #{id} cleared")),
            Err(s) => s,
        },
        Request::Refresh => return Ok("refreshed".to_owned()),
    };
    Err(describe_status(addr, &status, has_token))
}

fn describe_request(req: &Request) -> String {
    match req {
        Request::SetFault(spec) => format!("fault rule ({})", describe_spec(spec)),
        Request::ClearFault(id) => format!("clear of fault #{id}"),
        Request::Refresh => "refresh".to_owned(),
    }
}

#[cfg(test)]
mod tests;
