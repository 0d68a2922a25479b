//! Sans-io state-of-the-world ADS protocol for one stream (Envoy "xDS REST and gRPC protocol":
//! ACK/NACK, nonces, resource subscriptions; gRFC A27 for what gRPC clients send).
//!
//! Per type URL it tracks the names the client subscribed to, whether it is a wildcard
//! subscription (LDS/CDS only: an explicit `*`, or an empty list from a client that never named a
//! resource of that type), the nonce of the latest response and what that response held.
//! [`StreamProtocol::on_request`] classifies a request (initial, ACK, NACK, stale) and may answer;
//! [`StreamProtocol::on_snapshot`] answers a mesh change in make-before-break order
//! (CDS, EDS, LDS, RDS). It never reads sockets or clocks.

use std::collections::{BTreeMap, BTreeSet};

use meshwork_proto::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use meshwork_proto::google::protobuf::Any;
use meshwork_proto::type_url;

use crate::xds_server::state::{AckEvent, Snapshot};

/// Order in which a mesh change is pushed: clusters and endpoints exist before a listener or
/// route points at them.
const PUSH_ORDER: [&str; 4] = [
    type_url::CLUSTER,
    type_url::CLUSTER_LOAD_ASSIGNMENT,
    type_url::LISTENER,
    type_url::ROUTE_CONFIGURATION,
];

/// What one request led to.
#[derive(Debug, Default, PartialEq)]
pub struct RequestOutcome {
    /// The ACK or NACK the request carried, if it answered the latest response.
    pub event: Option<AckEvent>,
    /// A response to send.
    pub response: Option<DiscoveryResponse>,
    /// The request's nonce was not the latest one sent for its type, so it was ignored.
    pub stale: bool,
    /// The request opened its type on this stream; holds the version it announced (empty when
    /// the client held none). A reconnecting client announces the version it last accepted.
    pub opened: Option<String>,
}

/// Protocol state of one ADS stream.
#[derive(Debug, Default)]
pub struct StreamProtocol {
    node_id: Option<String>,
    types: BTreeMap<String, TypeState>,
    nonce_seq: u64,
}

#[derive(Debug, Default)]
struct TypeState {
    names: BTreeSet<String>,
    wildcard: bool,
    ever_named: bool,
    nonce: Option<String>,
    sent: Option<Sent>,
}

#[derive(Debug)]
struct Sent {
    version: String,
    resources: BTreeMap<String, Any>,
}

/// Whether an empty name list can mean "everything" for this type (LDS and CDS only).
fn wildcard_capable(type_url: &str) -> bool {
    type_url == type_url::LISTENER || type_url == type_url::CLUSTER
}

impl StreamProtocol {
    /// A fresh stream.
    pub fn new() -> StreamProtocol {
        StreamProtocol::default()
    }

    /// Node id from the first request that carried a node (empty until then).
    pub fn node_id(&self) -> &str {
        self.node_id.as_deref().unwrap_or("")
    }

    /// Handles one request from the client against the current snapshot.
    pub fn on_request(&mut self, req: &DiscoveryRequest, snap: &Snapshot) -> RequestOutcome {
        if self.node_id.is_none()
            && let Some(node) = &req.node
        {
            self.node_id = Some(node.id.clone());
        }
        let node_id = self.node_id().to_owned();
        let state = self.types.entry(req.type_url.clone()).or_default();
        let mut outcome = RequestOutcome::default();
        if !req.response_nonce.is_empty() {
            if state.nonce.as_deref() != Some(req.response_nonce.as_str()) {
                // An answer to an older response; the client will answer the newer one too.
                outcome.stale = true;
                return outcome;
            }
            outcome.event = Some(match &req.error_detail {
                Some(status) => AckEvent::Nack {
                    node_id,
                    type_url: req.type_url.clone(),
                    version: state
                        .sent
                        .as_ref()
                        .map(|s| s.version.clone())
                        .unwrap_or_default(),
                    message: status.message.clone(),
                },
                None => AckEvent::Ack {
                    node_id,
                    type_url: req.type_url.clone(),
                    version: req.version_info.clone(),
                },
            });
        }
        let first = state.nonce.is_none() && state.sent.is_none();
        if first {
            outcome.opened = Some(req.version_info.clone());
        }
        let changed = state.subscribe(&req.type_url, &req.resource_names);
        outcome.response = self.respond(&req.type_url, snap, first || changed);
        outcome
    }

    /// Responses for every subscribed type whose resources changed in `snap`, in
    /// make-before-break order.
    pub fn on_snapshot(&mut self, snap: &Snapshot) -> Vec<DiscoveryResponse> {
        let mut order: Vec<String> = PUSH_ORDER.iter().map(|t| (*t).to_owned()).collect();
        order.extend(
            self.types
                .keys()
                .filter(|t| !PUSH_ORDER.contains(&t.as_str()))
                .cloned(),
        );
        let mut responses = Vec::new();
        for t in &order {
            if self.types.contains_key(t.as_str()) {
                responses.extend(self.respond(t, snap, false));
            }
        }
        responses
    }

    /// Builds a response for `type_url` if the client's view differs from what it should hold,
    /// or if `force` (new subscription) and there is something to say.
    fn respond(
        &mut self,
        type_url: &str,
        snap: &Snapshot,
        force: bool,
    ) -> Option<DiscoveryResponse> {
        let state = self.types.get_mut(type_url)?;
        let wanted: BTreeMap<String, Any> = snap
            .of_type(type_url)
            .filter(|(name, _)| state.wildcard || state.names.contains(*name))
            .map(|(name, any)| (name.clone(), any.clone()))
            .collect();
        let unchanged = state.sent.as_ref().is_some_and(|s| s.resources == wanted);
        if unchanged && !force {
            return None;
        }
        // RDS/EDS absence means nothing to a client, so an empty response would be noise.
        if wanted.is_empty() && !wildcard_capable(type_url) {
            return None;
        }
        self.nonce_seq += 1;
        let nonce = self.nonce_seq.to_string();
        let version = snap.version.to_string();
        let response = DiscoveryResponse {
            version_info: version.clone(),
            resources: wanted.values().cloned().collect(),
            type_url: type_url.to_owned(),
            nonce: nonce.clone(),
            ..Default::default()
        };
        state.nonce = Some(nonce);
        state.sent = Some(Sent {
            version,
            resources: wanted,
        });
        Some(response)
    }
}

impl TypeState {
    /// Applies a request's name list; returns whether the subscription changed.
    fn subscribe(&mut self, type_url: &str, names: &[String]) -> bool {
        let mut set: BTreeSet<String> = names.iter().cloned().collect();
        let explicit_star = set.remove("*");
        let wildcard =
            wildcard_capable(type_url) && (explicit_star || (names.is_empty() && !self.ever_named));
        if !names.is_empty() {
            self.ever_named = true;
        }
        let changed = wildcard != self.wildcard || set != self.names;
        self.wildcard = wildcard;
        self.names = set;
        changed
    }
}

#[cfg(test)]
mod tests;
