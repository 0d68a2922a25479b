//! Active gRPC health checking (gRFC A17): one `grpc.health.v1.Health/Watch` stream per endpoint
//! connection, its answers turned into "serving / not serving" verdicts for the channel's
//! manager, which applies them with `ClusterBalancer::set_usable`.
//!
//! Per endpoint address, one owned task waits for the connection to be READY, opens `Watch` for
//! the configured service name (`""` = the whole server) with tonic-health's client over that same
//! connection, and reports every status: SERVING → serving; NOT_SERVING, SERVICE_UNKNOWN and
//! UNKNOWN → not serving. A server without the health service (UNIMPLEMENTED) is treated as
//! healthy, logged once, and not asked again (as gRPC does). Any other stream failure reports not
//! serving and retries after gRPC connection backoff (1 s, ×1.6, ±20 %, up to 120 s; reset when
//! a message arrives); a stream that fails because the connection dropped is reopened once the
//! connection is READY again. Deviation from A17, documented: before its first answer an endpoint
//! keeps its previous verdict (initially serving) instead of staying CONNECTING, so RPCs sent while
//! a channel starts are not failed. Not here: applying verdicts (the manager), `Check` polling,
//! the A90 `List` method.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::uri::{Authority, Scheme, Uri};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use tonic::Code;
use tonic::body::Body;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::balancer::Connectivity;
use crate::connection::EndpointConnection;
use crate::xds::BackoffConfig;
use crate::xds::backoff::Backoff;

/// A verdict on one endpoint address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// The endpoint.
    pub(crate) address: SocketAddr,
    /// Whether it may receive RPCs.
    pub(crate) serving: bool,
}

/// Health watches of one channel, one per endpoint address in use; dropping it stops them.
#[derive(Debug)]
pub(crate) struct HealthChecks {
    service: String,
    tasks: JoinSet<()>,
    running: HashMap<SocketAddr, AbortHandle>,
    tx: mpsc::UnboundedSender<Verdict>,
    rx: mpsc::UnboundedReceiver<Verdict>,
}

impl HealthChecks {
    /// Watches for `service` (`""` = the whole server).
    pub(crate) fn new(service: String) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        HealthChecks {
            service,
            tasks: JoinSet::new(),
            running: HashMap::new(),
            tx,
            rx,
        }
    }

    /// Watches exactly the endpoints of `connections`: starts new watches, stops stale ones.
    pub(crate) fn reconcile(&mut self, connections: &HashMap<SocketAddr, EndpointConnection>) {
        self.running.retain(|address, task| {
            let keep = connections.contains_key(address);
            if !keep {
                task.abort();
            }
            keep
        });
        for (address, connection) in connections {
            if !self.running.contains_key(address) {
                let task = self.tasks.spawn(watch_endpoint(
                    connection.clone(),
                    self.service.clone(),
                    self.tx.clone(),
                ));
                self.running.insert(*address, task);
            }
        }
    }

    /// The next verdict; pending forever if none comes (the manager holds a sender).
    pub(crate) async fn next(&mut self) -> Option<Verdict> {
        while let Some(Ok(())) | Some(Err(_)) = self.tasks.try_join_next() {}
        self.rx.recv().await
    }
}

/// Whether a reported status lets the endpoint serve (A17: only SERVING does).
pub(crate) fn is_serving(status: i32) -> bool {
    status == ServingStatus::Serving as i32
}

/// One endpoint's watch loop; see the module docs.
async fn watch_endpoint(
    connection: EndpointConnection,
    service: String,
    tx: mpsc::UnboundedSender<Verdict>,
) {
    let address = connection.address();
    let mut backoff = Backoff::new(BackoffConfig::default(), fastrand::Rng::new());
    let mut states = connection.subscribe();
    loop {
        if states
            .wait_for(|s| *s == Connectivity::Ready)
            .await
            .is_err()
        {
            return;
        }
        let mut client = HealthClient::new(OnConnection(connection.clone()));
        let request = HealthCheckRequest {
            service: service.clone(),
        };
        match client.watch(request).await {
            Ok(response) => {
                let mut stream = response.into_inner();
                while let Ok(Some(message)) = stream.message().await {
                    backoff.reset();
                    let serving = is_serving(message.status);
                    if tx.send(Verdict { address, serving }).is_err() {
                        return;
                    }
                }
            }
            Err(status) if status.code() == Code::Unimplemented => {
                tracing::error!(
                    %address,
                    service,
                    "endpoint does not implement grpc.health.v1.Health; treating it as healthy \
                     (gRFC A17) and not checking it again"
                );
                let _ = tx.send(Verdict {
                    address,
                    serving: true,
                });
                return;
            }
            Err(status) => {
                tracing::debug!(%address, %status, "health watch failed");
            }
        }
        if tx
            .send(Verdict {
                address,
                serving: false,
            })
            .is_err()
        {
            return;
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// A tonic transport sending on one endpoint's open connection.
#[derive(Clone, Debug)]
struct OnConnection(EndpointConnection);

type BoxError = Box<dyn StdError + Send + Sync>;

impl tower::Service<http::Request<Body>> for OnConnection {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let address = self.0.address();
        let sender = self.0.sender();
        let mut parts = request.uri().clone().into_parts();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Authority::try_from(address.to_string()).ok();
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
        Box::pin(async move {
            let mut sender = sender.ok_or_else(|| -> BoxError {
                format!("connection to {address} is not ready").into()
            })?;
            Ok(sender.send_request(request).await?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_serving_serves() {
        assert!(is_serving(ServingStatus::Serving as i32));
        for status in [
            ServingStatus::Unknown,
            ServingStatus::NotServing,
            ServingStatus::ServiceUnknown,
        ] {
            assert!(!is_serving(status as i32), "{status:?}");
        }
        assert!(!is_serving(42));
    }
}
