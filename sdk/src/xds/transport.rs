//! The ADS stream task: connects to the control plane with tonic, runs
//! `StreamAggregatedResources`, feeds the protocol core, delivers notifications and reconnects with
//! backoff (Envoy xDS protocol "Aggregated Discovery Service"; gRFC A57 for stream failures).
//!
//! Thin on purpose: every protocol decision is the core's. The task ends when the last
//! `XdsClient` handle aborts it. Responses are read one at a time and the next one is not read
//! until every watcher has taken the events of the current one (flow control).

use std::sync::Arc;

use meshwork_proto::envoy::service::discovery::v3::DiscoveryRequest;
use meshwork_proto::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::backoff::Backoff;
use super::channel::ServerChannel;
use super::client::{ConnectionState, ConnectionStatus, Shared, State};
use super::event::Notification;

/// Run streams to `channel` forever, reconnecting with `backoff`.
pub(crate) async fn run(
    shared: Arc<Shared>,
    channel: ServerChannel,
    status: watch::Sender<ConnectionStatus>,
    mut backoff: Backoff,
) {
    loop {
        status.send_modify(|s| s.state = ConnectionState::Connecting);
        let (got_response, message) = stream_once(&shared, &channel, &status, &mut backoff).await;
        tracing::info!(
            server = %channel.uri(),
            got_response,
            "xDS stream ended: {message}"
        );
        let notes = shared.lock().core.on_stream_closed(got_response, &message);
        status.send_modify(|s| s.last_error = Some(message));
        deliver(&shared, notes).await;
        if got_response {
            // A57: a stream that got a response ended normally; retry at once with a fresh backoff.
            backoff.reset();
        } else {
            let delay = backoff.next_delay();
            status.send_modify(|s| s.state = ConnectionState::BackingOff);
            tokio::time::sleep(delay).await;
        }
    }
}

/// One stream, from connect to its end. Returns whether it got a response and why it ended.
async fn stream_once(
    shared: &Shared,
    channel: &ServerChannel,
    status: &watch::Sender<ConnectionStatus>,
    backoff: &mut Backoff,
) -> (bool, String) {
    let endpoint = match channel.endpoint() {
        Ok(e) => e,
        Err(e) => return (false, e.to_string()),
    };
    let channel = match endpoint.connect().await {
        Ok(c) => c,
        Err(e) => return (false, format!("connect failed: {}", error_chain(&e))),
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
            return (
                false,
                format!("stream refused: {}: {}", s.code(), s.message()),
            );
        }
    };
    status.send_modify(|s| s.state = ConnectionState::Connected);
    let mut got_response = false;
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
                    got_response = true;
                    backoff.reset();
                    let notes = {
                        let mut state = shared.lock();
                        let notes = state.core.on_response(resp, Instant::now());
                        flush(&mut state, &requests);
                        notes
                    };
                    deliver(shared, notes).await;
                }
                Ok(None) => return (got_response, "stream closed by the server".to_string()),
                Err(s) => return (got_response, format!("stream failed: {}: {}", s.code(), s.message())),
            },
            _ = shared.wake.notified() => flush(&mut shared.lock(), &requests),
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
