//! Data-task tests against an in-test fake Admin server (a real tonic server on loopback that
//! implements the generated `Admin` trait): Watch → state, restart → reconnect, bearer token,
//! wrong token and unreachable address shown as such. Every wait is bounded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshwork_proto::admin::v1::admin_server::{Admin, AdminServer};
use meshwork_proto::admin::v1::{
    ClearFaultRequest, ClearFaultResponse, ConfigDump, FaultRule, GetConfigDumpRequest,
    GetInfoRequest, GetSnapshotRequest, Info, ListFaultsRequest, ListFaultsResponse,
    SetFaultRequest, SetFaultResponse, Snapshot, WatchRequest, WatchUpdate, watch_update::Update,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request as GrpcRequest, Response, Status};

use super::*;
use crate::app::{App, update};
use crate::fixtures;
use crate::model::Conn;

type WatchTx = mpsc::Sender<Result<WatchUpdate, Status>>;

#[derive(Clone)]
struct Fake {
    generation: u32,
    token: Option<&'static str>,
    watch: Arc<Mutex<Option<WatchTx>>>,
    set: Arc<Mutex<Vec<FaultRuleSpec>>>,
}

impl Fake {
    fn new(generation: u32, token: Option<&'static str>) -> Self {
        Fake {
            generation,
            token,
            watch: Arc::default(),
            set: Arc::default(),
        }
    }

    fn check<T>(&self, req: &GrpcRequest<T>) -> Result<(), Status> {
        let Some(token) = self.token else {
            return Ok(());
        };
        let got = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if got == Some(&format!("Bearer {token}")[..]) {
            Ok(())
        } else {
            Err(Status::unauthenticated("bad token"))
        }
    }
}

#[tonic::async_trait]
impl Admin for Fake {
    async fn get_info(&self, req: GrpcRequest<GetInfoRequest>) -> Result<Response<Info>, Status> {
        self.check(&req)?;
        Ok(Response::new(fixtures::info(&format!(
            "fake-{}",
            self.generation
        ))))
    }

    async fn get_snapshot(
        &self,
        _: GrpcRequest<GetSnapshotRequest>,
    ) -> Result<Response<Snapshot>, Status> {
        Ok(Response::new(fixtures::quiet_snapshot(0)))
    }

    type WatchStream = ReceiverStream<Result<WatchUpdate, Status>>;

    async fn watch(
        &self,
        req: GrpcRequest<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        self.check(&req)?;
        let (tx, rx) = mpsc::channel(8);
        let snap = fixtures::snapshot(f64::from(self.generation), 0);
        let _ = tx
            .send(Ok(WatchUpdate {
                update: Some(Update::Snapshot(snap)),
            }))
            .await;
        for e in fixtures::events() {
            let _ = tx
                .send(Ok(WatchUpdate {
                    update: Some(Update::Event(e)),
                }))
                .await;
        }
        *self.watch.lock().unwrap() = Some(tx);
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_config_dump(
        &self,
        _: GrpcRequest<GetConfigDumpRequest>,
    ) -> Result<Response<ConfigDump>, Status> {
        Ok(Response::new(fixtures::config_dump()))
    }

    async fn list_faults(
        &self,
        _: GrpcRequest<ListFaultsRequest>,
    ) -> Result<Response<ListFaultsResponse>, Status> {
        let rules = self
            .set
            .lock()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, s)| FaultRule {
                id: i as u64 + 1,
                spec: Some(s.clone()),
                ..FaultRule::default()
            })
            .collect();
        Ok(Response::new(ListFaultsResponse {
            rules,
            max_rules: 16,
            ..Default::default()
        }))
    }

    async fn set_fault(
        &self,
        req: GrpcRequest<SetFaultRequest>,
    ) -> Result<Response<SetFaultResponse>, Status> {
        self.check(&req)?;
        let spec = req.into_inner().spec.unwrap_or_default();
        let mut set = self.set.lock().unwrap();
        set.push(spec.clone());
        let rule = FaultRule {
            id: set.len() as u64,
            spec: Some(spec),
            ..FaultRule::default()
        };
        Ok(Response::new(SetFaultResponse { rule: Some(rule) }))
    }

    async fn clear_fault(
        &self,
        _: GrpcRequest<ClearFaultRequest>,
    ) -> Result<Response<ClearFaultResponse>, Status> {
        Err(Status::not_found("no such rule"))
    }

    async fn set_serving(
        &self,
        _: GrpcRequest<meshwork_proto::admin::v1::SetServingRequest>,
    ) -> Result<Response<meshwork_proto::admin::v1::SetServingResponse>, Status> {
        Err(Status::unimplemented(
            "the fake admin server does not serve health",
        ))
    }
}

fn serve(listener: TcpListener, fake: Fake) -> JoinHandle<()> {
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(AdminServer::new(fake))
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await;
    })
}

fn config(token: Option<&str>) -> TaskConfig {
    let mut c = TaskConfig::new(token).unwrap();
    c.backoff = Backoff {
        initial: Duration::from_millis(20),
        multiplier: 2.0,
        max: Duration::from_millis(200),
    };
    c.connect_timeout = Duration::from_secs(2);
    c
}

/// Applies actions from the task until `done` holds; fails after 10 s.
async fn pump_until(
    app: &mut App,
    rx: &mut mpsc::Receiver<Action>,
    what: &str,
    done: impl Fn(&App) -> bool,
) {
    let result = tokio::time::timeout(Duration::from_secs(10), async {
        while !done(app) {
            let Some(action) = rx.recv().await else {
                panic!("task ended while waiting for {what}")
            };
            update(app, action);
        }
    })
    .await;
    assert!(
        result.is_ok(),
        "timed out waiting for {what}; state: {:?}",
        app.endpoints[0].conn
    );
}

fn name_is(app: &App, name: &str) -> bool {
    app.endpoints[0]
        .info
        .as_ref()
        .is_some_and(|i| i.service_name == name)
}

#[tokio::test]
async fn watch_stream_becomes_state_and_the_task_reconnects_after_a_restart() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = Fake::new(1, Some("good"));
    let server = serve(listener, fake.clone());
    let (tx, mut rx) = mpsc::channel(64);
    let handle = EndpointHandle::spawn(0, addr.to_string(), config(Some("good")), tx);
    let mut app = App::new([addr.to_string()]);

    pump_until(&mut app, &mut rx, "first snapshot, events and dump", |a| {
        let e = &a.endpoints[0];
        name_is(a, "fake-1") && e.snapshot.is_some() && e.config_dump.is_some() && a.log.len() >= 6
    })
    .await;
    assert_eq!(app.endpoints[0].conn, Conn::Connected);
    assert_eq!(app.endpoints[0].totals().rps, 40.5);
    assert!(
        app.log.filtered("nack").next().is_some(),
        "the NACK event is in the log"
    );

    // A fault set from the UI goes out with the token and comes back in the list.
    assert!(handle.request(Request::SetFault(fixtures::fault_spec())));
    pump_until(&mut app, &mut rx, "the rule listed", |a| {
        a.endpoints[0]
            .faults
            .as_ref()
            .is_some_and(|f| f.rules.len() == 1)
    })
    .await;
    assert_eq!(
        fake.set.lock().unwrap().clone(),
        vec![fixtures::fault_spec()]
    );

    // The process goes away: the stream ends, the UI shows it down.
    server.abort();
    let _ = server.await;
    fake.watch.lock().unwrap().take();
    pump_until(&mut app, &mut rx, "the endpoint shown down", |a| {
        matches!(a.endpoints[0].conn, Conn::Failed { .. })
    })
    .await;

    // It comes back on the same port: the task reconnects by itself.
    let listener = TcpListener::bind(addr).await.unwrap();
    let _server = serve(listener, Fake::new(2, Some("good")));
    pump_until(&mut app, &mut rx, "reconnected to the new process", |a| {
        name_is(a, "fake-2") && a.endpoints[0].conn == Conn::Connected
    })
    .await;
    pump_until(&mut app, &mut rx, "a snapshot from the new process", |a| {
        a.endpoints[0].totals().rps == 81.0
    })
    .await;
    drop(handle);
}

#[tokio::test]
async fn a_wrong_token_is_shown_with_what_to_do() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _server = serve(listener, Fake::new(1, Some("good")));
    let (tx, mut rx) = mpsc::channel(64);
    let _handle = EndpointHandle::spawn(0, addr.to_string(), config(Some("bad")), tx);
    let mut app = App::new([addr.to_string()]);
    pump_until(&mut app, &mut rx, "the failure", |a| {
        matches!(a.endpoints[0].conn, Conn::Failed { .. })
    })
    .await;
    let Conn::Failed { error, .. } = &app.endpoints[0].conn else {
        unreachable!()
    };
    assert_eq!(
        error,
        &format!("wrong token for {addr}: set MESHTOP_TOKEN or --token-file")
    );
}

#[tokio::test]
async fn an_unreachable_address_is_shown_and_retried_with_growing_backoff() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (tx, mut rx) = mpsc::channel(64);
    let _handle = EndpointHandle::spawn(0, addr.to_string(), config(None), tx);
    let mut app = App::new([addr.to_string()]);
    pump_until(&mut app, &mut rx, "the third attempt", |a| {
        matches!(a.endpoints[0].conn, Conn::Failed { retry_in, .. } if retry_in == Duration::from_millis(80))
    })
    .await;
    let Conn::Failed { error, .. } = &app.endpoints[0].conn else {
        unreachable!()
    };
    assert!(
        error.starts_with(&format!("cannot reach {addr}")),
        "{error}"
    );
    assert!(error.contains("check the address"), "{error}");
}

#[test]
fn backoff_grows_to_its_cap() {
    let b = Backoff::default();
    let waits: Vec<_> = (1..=9).map(|n| b.delay(n).as_millis()).collect();
    assert_eq!(
        waits,
        [1000, 1600, 2560, 4096, 6553, 10485, 16777, 26843, 30000]
    );
}

#[test]
fn a_non_ascii_token_is_refused_up_front() {
    assert_eq!(
        TaskConfig::new(Some("tök\n")).unwrap_err(),
        TokenError::NotAscii
    );
}
