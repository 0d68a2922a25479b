//! The sans-io ADS protocol core (state of the world, xDS v3): subscriptions, versions and nonces
//! per type URL, ACK/NACK, the resource cache, does-not-exist timers and watcher notifications.
//!
//! Implements Envoy's "xDS REST and gRPC protocol" (SotW ADS) with gRPC's client rules: gRFC A27
//! (one ADS stream, node on the first request), A46 (partial acceptance, keep the last good value on
//! NACK), A57 (timers only on a connected stream, stream failure handling) and A88 (data vs
//! transient errors, ambient errors, `fail_on_data_errors`, `resource_timer_is_transient_error`).
//!
//! It does no I/O and reads no clock: the shell feeds it events with the current `Instant` and
//! sends the requests it queues. It does not count watchers (the shell subscribes a name once and
//! unsubscribes it when its last watcher leaves) and knows nothing of routing or balancing.
//! Server-sent per-resource errors (xRFC TP3 `resource_errors`) are handled per A88. The core
//! takes part in fallback (A71) only through [`AdsCore::has_uncached`],
//! [`AdsCore::fresh_stream_requests`] and [`AdsCore::switch_server`]. Not done here: delta xDS.

use std::collections::BTreeMap;
use std::time::Duration;

use meshwork_proto::envoy::config::core::v3::Node;
use meshwork_proto::envoy::service::discovery::v3::DiscoveryRequest;
use meshwork_proto::google::protobuf::Any;
use meshwork_proto::google::rpc::Status;
use tokio::time::Instant;

use super::dump::{ConfigDump, ResourceDump, ResourceStatus};
use super::error::WatchError;
use super::event::{Notification, WatchEvent};
use super::metrics::UpdateTally;
use super::resource::{self, DecodeContext, DecodeError, Resource, ResourceKind};
use crate::bootstrap::{Bootstrap, XdsServer};

mod response;
mod server_error;
mod state;

use state::{ResourceState, TypeState};

/// Does-not-exist timeout (gRFC A57).
pub const RESOURCE_TIMEOUT: Duration = Duration::from_secs(15);
/// Does-not-exist timeout with the `resource_timer_is_transient_error` server feature (gRFC A88).
pub const RESOURCE_TIMEOUT_TRANSIENT: Duration = Duration::from_secs(30);

/// The decode entry point the core uses (normally [`resource::decode`]).
pub type DecodeFn =
    fn(ResourceKind, &Any, &DecodeContext) -> Result<(String, Resource), DecodeError>;

/// What the core needs to know about this client and its control plane.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// The control plane's `server_uri` (for error messages and the dump).
    pub server_uri: String,
    /// The node sent on the first request of every stream.
    pub node: Node,
    /// Validation context for resources.
    pub decode_context: DecodeContext,
    /// `fail_on_data_errors` (A88): drop a cached resource on NACK or deletion.
    pub fail_on_data_errors: bool,
    /// Does-not-exist timeout: 15 s, or 30 s with `resource_timer_is_transient_error`.
    pub resource_timeout: Duration,
    /// `resource_timer_is_transient_error` (A88): a fired timer means a slow or unreachable
    /// control plane (cache state TIMEOUT, a transient error), not a missing resource.
    pub timer_is_transient: bool,
}

impl CoreConfig {
    /// The configuration for talking to `server` on behalf of `bootstrap`'s node.
    pub fn new(bootstrap: &Bootstrap, server: &XdsServer) -> Self {
        CoreConfig {
            server_uri: server.server_uri.clone(),
            node: super::node::node_proto(&bootstrap.node),
            decode_context: DecodeContext {
                certificate_providers: bootstrap.certificate_providers.keys().cloned().collect(),
                trusted_xds_server: server.has_feature("trusted_xds_server"),
            },
            fail_on_data_errors: server.has_feature("fail_on_data_errors"),
            resource_timeout: if server.has_feature("resource_timer_is_transient_error") {
                RESOURCE_TIMEOUT_TRANSIENT
            } else {
                RESOURCE_TIMEOUT
            },
            timer_is_transient: server.has_feature("resource_timer_is_transient_error"),
        }
    }
}

/// The ADS protocol state of one xDS server.
#[derive(Debug)]
pub struct AdsCore {
    config: CoreConfig,
    decode: DecodeFn,
    types: BTreeMap<ResourceKind, TypeState>,
    connected: bool,
    node_sent: bool,
    outbox: Vec<DiscoveryRequest>,
    /// The failure of the last stream that ended without a response, until a response arrives.
    transient: Option<WatchError>,
    /// Valid / invalid resource counts of the responses handled since the last take (A78).
    tallies: Vec<UpdateTally>,
}

impl AdsCore {
    /// A core with no subscriptions and no stream.
    pub fn new(config: CoreConfig) -> Self {
        AdsCore {
            config,
            decode: resource::decode,
            types: ResourceKind::ALL
                .into_iter()
                .map(|k| (k, TypeState::default()))
                .collect(),
            connected: false,
            node_sent: false,
            outbox: Vec::new(),
            transient: None,
            tallies: Vec::new(),
        }
    }

    /// Replace the decoder (tests use a stricter stand-in until the real validator lands).
    #[cfg(test)]
    pub(crate) fn with_decoder(mut self, decode: DecodeFn) -> Self {
        self.decode = decode;
        self
    }

    /// The configuration this core runs with.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Whether a stream is up.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Whether some subscribed resource has never been received (gRFC A71: a NACKed or
    /// does-not-exist resource counts as cached). Fallback to the next server needs this.
    pub fn has_uncached(&self) -> bool {
        self.types
            .values()
            .any(|ts| ts.resources.values().any(|rs| rs.unresolved()))
    }

    /// The requests a brand-new stream to another server would start with: every subscribed type
    /// with no version, no nonce and its full name set, the node on the first. Queues nothing
    /// (used to probe the primary while a fallback serves, gRFC A71).
    pub fn fresh_stream_requests(&self) -> Vec<DiscoveryRequest> {
        let mut node = Some(self.config.node.clone());
        self.types
            .iter()
            .filter(|(_, ts)| !ts.resources.is_empty())
            .map(|(kind, ts)| DiscoveryRequest {
                node: node.take(),
                resource_names: ts.resources.keys().cloned().collect(),
                type_url: kind.type_url().to_string(),
                ..Default::default()
            })
            .collect()
    }

    /// The stream moves to another control plane (gRFC A71 fallback or revert). Takes effect for
    /// the next stream: versions are forgotten so the new server sends its full state, while the
    /// cache keeps serving until it does. Call between streams.
    pub fn switch_server(&mut self, config: CoreConfig) {
        self.config = config;
        for ts in self.types.values_mut() {
            ts.version.clear();
            ts.nonce.clear();
        }
    }

    /// Add `name` to the subscriptions of `kind`. Returns what a new watcher should see first
    /// (the cached value or a known error), if anything. Subscribing twice is harmless.
    pub fn subscribe(
        &mut self,
        kind: ResourceKind,
        name: &str,
        now: Instant,
    ) -> Option<WatchEvent> {
        let ts = self.types.entry(kind).or_default();
        if let Some(rs) = ts.resources.get(name) {
            return rs.current_event(self.transient.as_ref());
        }
        ts.resources
            .insert(name.to_string(), ResourceState::requested());
        let (version, nonce) = (ts.version.clone(), ts.nonce.clone());
        self.queue_request(kind, version, nonce, None, now);
        self.transient
            .as_ref()
            .map(|e| WatchEvent::Error(e.clone()))
    }

    /// Remove `name` from the subscriptions of `kind` and forget its cached value.
    pub fn unsubscribe(&mut self, kind: ResourceKind, name: &str, now: Instant) {
        let ts = self.types.entry(kind).or_default();
        if ts.resources.remove(name).is_none() {
            return;
        }
        if ts.resources.is_empty() && !ts.sent_on_stream {
            return;
        }
        let (version, nonce) = (ts.version.clone(), ts.nonce.clone());
        self.queue_request(kind, version, nonce, None, now);
    }

    /// A new ADS stream is up: resend every subscribed type with its last accepted version, an
    /// empty nonce and its full name set; the node goes on the first of these requests.
    pub fn on_stream_connected(&mut self, now: Instant) {
        self.connected = true;
        self.node_sent = false;
        self.outbox.clear();
        let kinds: Vec<_> = self
            .types
            .iter_mut()
            .filter_map(|(k, ts)| {
                ts.nonce.clear();
                ts.sent_on_stream = false;
                (!ts.resources.is_empty()).then(|| (*k, ts.version.clone()))
            })
            .collect();
        for (kind, version) in kinds {
            self.queue_request(kind, version, String::new(), None, now);
        }
    }

    /// The stream ended. Timers stop (A57: they only run on a connected stream) and nonces are
    /// forgotten. A stream that ended before any response is a transient error for every watcher:
    /// an ambient one where a cached value keeps serving. The same failure again (before any
    /// response) is not repeated to watchers.
    pub fn on_stream_closed(&mut self, got_response: bool, message: &str) -> Vec<Notification> {
        self.connected = false;
        self.outbox.clear();
        for ts in self.types.values_mut() {
            ts.nonce.clear();
            ts.sent_on_stream = false;
            ts.resources.values_mut().for_each(|rs| rs.timer = None);
        }
        if got_response {
            return Vec::new();
        }
        let err = WatchError::Unreachable {
            server: self.config.server_uri.clone(),
            message: message.to_string(),
        };
        if self.transient.as_ref() == Some(&err) {
            // Watchers were told already; each retry failing the same way is not news.
            return Vec::new();
        }
        self.transient = Some(err.clone());
        let mut out = Vec::new();
        for (kind, ts) in &self.types {
            for (name, rs) in &ts.resources {
                let event = if rs.cached.is_some() {
                    WatchEvent::AmbientError(err.clone())
                } else {
                    WatchEvent::Error(err.clone())
                };
                out.push(Notification {
                    kind: *kind,
                    name: name.clone(),
                    event,
                });
            }
        }
        out
    }

    /// Time passed: fire the resource timers that are due. A fired timer means the resource does
    /// not exist, or, with `resource_timer_is_transient_error` (A88), that the control plane is
    /// too slow: cache state TIMEOUT and a transient error for the watchers.
    pub fn on_tick(&mut self, now: Instant) -> Vec<Notification> {
        let mut out = Vec::new();
        let timeout = self.config.resource_timeout;
        let transient = self.config.timer_is_transient;
        for (kind, ts) in self.types.iter_mut() {
            for (name, rs) in ts.resources.iter_mut() {
                if rs.timer.is_some_and(|t| t <= now) {
                    rs.timer = None;
                    let (kind, name, server) =
                        (*kind, name.clone(), self.config.server_uri.clone());
                    let event = if transient {
                        rs.status = ResourceStatus::Timeout;
                        let err = WatchError::TimedOut {
                            kind,
                            name: name.clone(),
                            server,
                            after: timeout,
                        };
                        rs.data_error = Some(err.clone());
                        WatchEvent::Error(err)
                    } else {
                        rs.status = ResourceStatus::DoesNotExist;
                        let err = WatchError::NotFound {
                            kind,
                            name: name.clone(),
                            server,
                            after: timeout,
                        };
                        rs.data_error = Some(err.clone());
                        WatchEvent::DoesNotExist(err)
                    };
                    out.push(Notification { kind, name, event });
                }
            }
        }
        out
    }

    /// When [`on_tick`](Self::on_tick) next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.types
            .values()
            .flat_map(|ts| ts.resources.values().filter_map(|rs| rs.timer))
            .min()
    }

    /// The requests queued since the last call, in order.
    pub fn take_requests(&mut self) -> Vec<DiscoveryRequest> {
        std::mem::take(&mut self.outbox)
    }

    /// How many valid and invalid resources each response handled since the last call carried
    /// (gRFC A78 `resource_updates_valid` / `_invalid`), in order.
    pub fn take_update_tallies(&mut self) -> Vec<UpdateTally> {
        std::mem::take(&mut self.tallies)
    }

    /// Every subscribed resource's kind, name, status and whether a value is cached: the same
    /// entries [`config_dump`](Self::config_dump) reads, without copying them (gRFC A88).
    pub fn resource_states(
        &self,
    ) -> impl Iterator<Item = (ResourceKind, &str, ResourceStatus, bool)> {
        self.types.iter().flat_map(|(kind, ts)| {
            ts.resources
                .iter()
                .map(|(name, rs)| (*kind, name.as_str(), rs.status, rs.cached.is_some()))
        })
    }

    /// Every subscribed resource with its status, version, wire form and last error.
    pub fn config_dump(&self, now: Instant) -> ConfigDump {
        let resources = self
            .types
            .iter()
            .flat_map(|(kind, ts)| {
                ts.resources.iter().map(|(name, rs)| ResourceDump {
                    kind: *kind,
                    type_url: kind.type_url(),
                    name: name.clone(),
                    version_info: rs
                        .cached
                        .as_ref()
                        .map(|c| c.version.clone())
                        .unwrap_or_default(),
                    status: rs.status,
                    xds_config: rs.cached.as_ref().map(|c| c.raw.clone()),
                    last_updated: rs.cached.as_ref().map(|c| c.updated),
                    error_state: rs.failure.clone(),
                })
            })
            .collect();
        ConfigDump {
            node: self.config.node.clone(),
            server_uri: self.config.server_uri.clone(),
            taken_at: now,
            resources,
        }
    }

    /// Queue a request for `kind` with its full current name set, if a stream is up, and start the
    /// does-not-exist timer of every unresolved name it carries that has none running.
    fn queue_request(
        &mut self,
        kind: ResourceKind,
        version: String,
        nonce: String,
        error: Option<Status>,
        now: Instant,
    ) {
        if !self.connected {
            return;
        }
        let timeout = self.config.resource_timeout;
        let ts = self.types.entry(kind).or_default();
        ts.sent_on_stream = true;
        for rs in ts.resources.values_mut() {
            if rs.unresolved() && rs.timer.is_none() {
                rs.timer = Some(now + timeout);
            }
        }
        let node = (!self.node_sent).then(|| self.config.node.clone());
        self.node_sent = true;
        self.outbox.push(DiscoveryRequest {
            version_info: version,
            node,
            resource_names: ts.resources.keys().cloned().collect(),
            type_url: kind.type_url().to_string(),
            response_nonce: nonce,
            error_detail: error,
            ..Default::default()
        });
    }
}

#[cfg(test)]
mod tests;
