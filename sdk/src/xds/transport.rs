//! The ADS stream task: connects to the control plane with tonic, runs
//! `StreamAggregatedResources`, feeds the protocol core, delivers notifications and reconnects with
//! backoff (Envoy xDS protocol "Aggregated Discovery Service"; gRFC A57 for stream failures), moving
//! between the servers of an ordered list as `fallback` decides (gRFC A71).
//!
//! Thin on purpose: every protocol decision is the core's, every server choice the selector's. The
//! task ends when the last `XdsClient` handle aborts it. Responses are read one at a time and the
//! next one is not read until every watcher has taken the events of the current one (flow
//! control). While a fallback serves, the task probes the primary on the backoff schedule with a
//! short-lived ADS stream asking for the current subscriptions, and closes the fallback stream
//! once the primary answers one.

use std::sync::Arc;
use std::time::Duration;

use meshwork_proto::envoy::service::discovery::v3::DiscoveryRequest;
use meshwork_proto::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::backoff::Backoff;
use super::channel::ServerChannel;
use super::client::{ConnectionState, ConnectionStatus};
use super::event::Notification;
use super::fallback::{Server, ServerSelector, Step};
use super::group::{Shared, State};
use super::metrics::XdsClientMetrics;

/// How long a probe of the primary may wait for its first response.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// How one stream ended.
enum StreamEnd {
    /// The stream (or the connection) ended; whether a response had arrived, and why it ended.
    Closed(bool, String),
    /// The primary accepted a connection while a fallback served: switch back.
    PrimaryBack,
}

/// Run streams to the servers of `servers` forever, reconnecting with `backoff`.
pub(crate) async fn run(
    shared: Arc<Shared>,
    servers: Vec<Server>,
    status: watch::Sender<ConnectionStatus>,
    mut backoff: Backoff,
    mut probe_backoff: Backoff,
    metrics: Option<XdsClientMetrics>,
) {
    let mut selector = ServerSelector::new(servers.len());
    let mut health = ServerHealth::new(servers.len(), metrics);
    loop {
        let active = selector.active();
        let Some(server) = servers.get(active) else {
            return;
        };
        status.send_modify(|s| {
            s.state = ConnectionState::Connecting;
            let uri = server.channel.uri().to_string();
            if s.server_uri != uri {
                s.working = false;
            }
            s.server_uri = uri;
            s.streams_started += 1;
        });
        let primary = selector.on_fallback().then(|| &servers[0]);
        let end = stream_once(
            &shared,
            &server.channel,
            primary,
            &status,
            &mut backoff,
            &mut probe_backoff,
            &mut health.on(active),
        )
        .await;
        status.send_modify(|s| s.streams_ended += 1);
        let (got_response, message) = match end {
            StreamEnd::PrimaryBack => {
                tracing::info!(
                    primary = %servers[0].channel.uri(),
                    fallback = %server.channel.uri(),
                    "xDS primary reachable again; closing the fallback stream"
                );
                selector.revert_to_primary();
                probe_backoff.reset();
                backoff.reset();
                let mut state = shared.lock();
                state
                    .core
                    .on_stream_closed(true, "reverting to the primary");
                state.core.switch_server(servers[0].core_config.clone());
                continue;
            }
            StreamEnd::Closed(got_response, message) => {
                if !got_response {
                    status.send_modify(|s| s.working = false);
                }
                (got_response, message)
            }
        };
        tracing::info!(
            server = %server.channel.uri(),
            got_response,
            "xDS stream ended: {message}"
        );
        let (notes, needs_data) = {
            let mut state = shared.lock();
            let notes = state.core.on_stream_closed(got_response, &message);
            (notes, state.core.has_uncached())
        };
        status.send_modify(|s| s.last_error = Some(message));
        if !got_response {
            health.failed(active, server.channel.uri());
        }
        deliver(&shared, notes).await;
        if got_response {
            // A57: a stream that got a response ended normally; retry at once with a fresh backoff.
            backoff.reset();
            continue;
        }
        match selector.on_unreachable(needs_data) {
            Step::FallBack(next) => {
                tracing::warn!(
                    from = %server.channel.uri(),
                    to = %servers[next].channel.uri(),
                    "xDS server unreachable with resources still missing; falling back (gRFC A71)"
                );
                shared
                    .lock()
                    .core
                    .switch_server(servers[next].core_config.clone());
            }
            Step::Retry(next) => {
                if next != active {
                    shared
                        .lock()
                        .core
                        .switch_server(servers[next].core_config.clone());
                }
                status.send_modify(|s| s.state = ConnectionState::BackingOff);
                let delay = backoff.next_delay();
                let can_fall_back = servers.len() > 1;
                if wait_backoff(&shared, delay, can_fall_back).await
                    && let Some(fallback) = selector.on_new_uncached()
                {
                    shared
                        .lock()
                        .core
                        .switch_server(servers[fallback].core_config.clone());
                }
            }
        }
    }
}

/// A78 server health per server of the list, for `grpc.xds_client.server_failure`: a server
/// starts healthy, turns unhealthy (counted once) when a stream to it ends without a response,
/// and is healthy again after its next response. Also forwards response tallies.
struct ServerHealth {
    healthy: Vec<bool>,
    metrics: Option<XdsClientMetrics>,
}

/// The view of [`ServerHealth`] one stream uses.
struct StreamHealth<'a> {
    healthy: Option<&'a mut bool>,
    metrics: Option<&'a XdsClientMetrics>,
}

impl ServerHealth {
    fn new(servers: usize, metrics: Option<XdsClientMetrics>) -> Self {
        ServerHealth {
            healthy: vec![true; servers],
            metrics,
        }
    }

    fn on(&mut self, index: usize) -> StreamHealth<'_> {
        StreamHealth {
            healthy: self.healthy.get_mut(index),
            metrics: self.metrics.as_ref(),
        }
    }

    fn failed(&mut self, index: usize, uri: &str) {
        if let Some(healthy) = self.healthy.get_mut(index)
            && std::mem::replace(healthy, false)
            && let Some(m) = &self.metrics
        {
            m.server_failure(uri);
        }
    }
}

impl StreamHealth<'_> {
    /// A response arrived from `uri`: the server is healthy; count its resources.
    fn responded(&mut self, uri: &str, state: &mut State) {
        if let Some(healthy) = self.healthy.as_deref_mut() {
            *healthy = true;
        }
        let tallies = state.core.take_update_tallies();
        if let Some(m) = self.metrics {
            tallies.into_iter().for_each(|t| m.updates(uri, t));
        }
    }
}

/// Sleep for `delay`, cut short when `can_fall_back` and a watch of a resource that is not cached
/// arrives (A71: that is when a fallback may help). Returns whether it was cut short.
async fn wait_backoff(shared: &Shared, delay: Duration, can_fall_back: bool) -> bool {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return false,
            _ = shared.wake.notified() => {
                if can_fall_back && shared.lock().core.has_uncached() {
                    return true;
                }
            }
        }
    }
}

/// Probes of the primary on the probe backoff schedule; resolves once the primary answers one
/// (gRFC A71 "whenever we get back in contact with a given server"). Pending forever without a
/// primary to probe.
async fn probe(primary: Option<&Server>, requests: Vec<DiscoveryRequest>, backoff: &mut Backoff) {
    let Some(primary) = primary else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(backoff.next_delay()).await;
        let answered = tokio::time::timeout(PROBE_TIMEOUT, answers(primary, requests.clone()));
        if answered.await.unwrap_or(false) {
            return;
        }
    }
}

/// Whether `server` answers an ADS stream that asks for `requests` (the current subscriptions)
/// with a response. The probe stream is dropped either way.
async fn answers(server: &Server, requests: Vec<DiscoveryRequest>) -> bool {
    let Ok(endpoint) = server.channel.endpoint() else {
        return false;
    };
    let Ok(channel) = endpoint.connect().await else {
        return false;
    };
    let mut client = AggregatedDiscoveryServiceClient::new(channel);
    // Keep the request side open: some servers end a stream whose client half-closed.
    let outgoing = tokio_stream::iter(requests).chain(tokio_stream::pending());
    match client.stream_aggregated_resources(outgoing).await {
        Ok(responses) => matches!(responses.into_inner().message().await, Ok(Some(_))),
        Err(_) => false,
    }
}

/// One stream, from connect to its end.
async fn stream_once(
    shared: &Shared,
    channel: &ServerChannel,
    primary: Option<&Server>,
    status: &watch::Sender<ConnectionStatus>,
    backoff: &mut Backoff,
    probe_backoff: &mut Backoff,
    health: &mut StreamHealth<'_>,
) -> StreamEnd {
    let server_uri = channel.uri();
    let endpoint = match channel.endpoint() {
        Ok(e) => e,
        Err(e) => return StreamEnd::Closed(false, e.to_string()),
    };
    let channel = match endpoint.connect().await {
        Ok(c) => c,
        Err(e) => {
            return StreamEnd::Closed(false, format!("connect failed: {}", error_chain(&e)));
        }
    };
    let mut client = AggregatedDiscoveryServiceClient::new(channel);
    let (requests, rx) = mpsc::unbounded_channel();
    {
        let mut state = shared.lock();
        state.core.on_stream_connected(Instant::now());
        flush(&mut state, &requests);
    }
    let mut responses = match client
        .stream_aggregated_resources(UnboundedReceiverStream::new(rx))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(s) => {
            let message = format!("stream refused: {}: {}", s.code(), s.message());
            return StreamEnd::Closed(false, message);
        }
    };
    status.send_modify(|s| s.state = ConnectionState::Connected);
    let mut got_response = false;
    let probe_requests = match primary {
        Some(_) => shared.lock().core.fresh_stream_requests(),
        None => Vec::new(),
    };
    let probe = probe(primary, probe_requests, probe_backoff);
    tokio::pin!(probe);
    loop {
        let deadline = shared.lock().core.next_deadline();
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            message = responses.message() => match message {
                Ok(Some(resp)) => {
                    if !got_response {
                        status.send_if_modified(|s| !std::mem::replace(&mut s.working, true));
                    }
                    got_response = true;
                    backoff.reset();
                    let notes = {
                        let mut state = shared.lock();
                        let notes = state.core.on_response(resp, Instant::now());
                        health.responded(server_uri, &mut state);
                        flush(&mut state, &requests);
                        notes
                    };
                    deliver(shared, notes).await;
                }
                Ok(None) => {
                    return StreamEnd::Closed(got_response, "stream closed by the server".to_string());
                }
                Err(s) => {
                    let message = format!("stream failed: {}: {}", s.code(), s.message());
                    return StreamEnd::Closed(got_response, message);
                }
            },
            _ = shared.wake.notified() => flush(&mut shared.lock(), &requests),
            _ = &mut probe => return StreamEnd::PrimaryBack,
            _ = timer => {
                let notes = {
                    let mut state = shared.lock();
                    let notes = state.core.on_tick(Instant::now());
                    flush(&mut state, &requests);
                    notes
                };
                deliver(shared, notes).await;
            }
        }
    }
}

/// Send the requests the core queued.
fn flush(state: &mut State, requests: &mpsc::UnboundedSender<DiscoveryRequest>) {
    for r in state.core.take_requests() {
        // The receiver lives as long as the stream; a send after it ended is moot.
        let _ = requests.send(r);
    }
}

/// Hand each notification to every watcher of its resource, waiting for room (flow control).
async fn deliver(shared: &Shared, notes: Vec<Notification>) {
    if notes.is_empty() {
        return;
    }
    let targets: Vec<_> = {
        let state = shared.lock();
        notes
            .into_iter()
            .flat_map(|n| {
                state
                    .watchers
                    .get(&(n.kind, n.name))
                    .into_iter()
                    .flatten()
                    .map(move |(_, tx)| (tx.clone(), n.event.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    for (tx, event) in targets {
        // A watcher dropped meanwhile just misses the event.
        let _ = tx.send(event).await;
    }
}

/// An error with its sources, which is where tonic keeps the useful part.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
