//! Handling one SotW `DiscoveryResponse`: decode every resource, accept the valid requested ones,
//! record per-resource errors, apply LDS/CDS deletion by absence, then ACK or NACK.
//!
//! Rules (Envoy xDS protocol; gRFC A46, A88): resources that were not requested are ignored; a
//! name that appears twice is invalid; a resource of the wrong type is an error; any error NACKs
//! the whole response (last accepted version + this nonce + `error_detail` INVALID_ARGUMENT listing
//! each problem) while the valid resources are still applied; a rejected resource keeps its last
//! good value unless `fail_on_data_errors`. RDS/EDS resources are never deleted by absence. A name
//! the server sent an error for (xRFC TP3) is handled by `server_error`, not deleted by absence;
//! server errors alone do not NACK. Each response's valid / invalid resource counts are kept for
//! the gRFC A78 counters (unrequested resources are ignored, so not counted).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use meshwork_proto::envoy::service::discovery::v3::DiscoveryResponse;
use meshwork_proto::google::protobuf::Any;
use meshwork_proto::google::rpc::{Code, Status};
use tokio::time::Instant;

use super::AdsCore;
use super::server_error;
use super::state::Cached;
use crate::xds::authority::canonical_name;
use crate::xds::dump::{ResourceStatus, UpdateFailure};
use crate::xds::error::WatchError;
use crate::xds::event::{Notification, WatchEvent};
use crate::xds::metrics::UpdateTally;
use crate::xds::resource::{Resource, ResourceKind};

/// The outcome of decoding one named resource of a response.
enum Outcome {
    Valid(Resource, Any),
    Invalid(String, Option<Any>),
}

impl AdsCore {
    /// A response arrived on the current stream. Returns the notifications for watchers and
    /// queues the ACK or NACK.
    pub fn on_response(&mut self, resp: DiscoveryResponse, now: Instant) -> Vec<Notification> {
        if !self.connected {
            return Vec::new();
        }
        self.transient = None;
        let Some(kind) = ResourceKind::from_type_url(&resp.type_url) else {
            tracing::warn!(
                type_url = %resp.type_url,
                server = %self.config.server_uri,
                "ignoring xDS response of a type this client never requests"
            );
            return Vec::new();
        };
        let (outcomes, mut problems) = self.decode_all(kind, &resp.resources);
        let server_errors = server_error::by_name(&resp.resource_errors);
        let has_nameless_error = !problems.is_empty();
        problems.extend(outcomes.values().filter_map(|o| match o {
            Outcome::Invalid(m, _) => Some(m.clone()),
            Outcome::Valid(..) => None,
        }));

        let valid = outcomes
            .values()
            .filter(|o| matches!(o, Outcome::Valid(..)))
            .count();
        self.tallies.push(UpdateTally {
            kind,
            valid: valid as u64,
            invalid: problems.len() as u64,
        });
        let mut out = Vec::new();
        let server = self.config.server_uri.clone();
        let fail_on_data_errors = self.config.fail_on_data_errors;
        let ts = self.types.entry(kind).or_default();
        ts.nonce = resp.nonce.clone();
        for (name, rs) in ts.resources.iter_mut() {
            let notify = |event| Notification {
                kind,
                name: name.clone(),
                event,
            };
            match outcomes.get(name) {
                Some(Outcome::Valid(resource, raw)) => {
                    let changed = rs.status != ResourceStatus::Acked
                        || rs.cached.as_ref().is_none_or(|c| &c.resource != resource);
                    rs.cached = Some(Cached {
                        resource: resource.clone(),
                        raw: raw.clone(),
                        version: resp.version_info.clone(),
                        updated: now,
                    });
                    rs.status = ResourceStatus::Acked;
                    rs.failure = None;
                    rs.data_error = None;
                    rs.timer = None;
                    if changed {
                        out.push(notify(WatchEvent::Changed(resource.clone())));
                    }
                }
                Some(Outcome::Invalid(message, raw)) => {
                    let err = WatchError::Invalid {
                        kind,
                        name: name.clone(),
                        version: resp.version_info.clone(),
                        server: server.clone(),
                        message: message.clone(),
                    };
                    rs.status = ResourceStatus::Nacked;
                    rs.timer = None;
                    rs.failure = Some(UpdateFailure {
                        details: message.clone(),
                        version_info: resp.version_info.clone(),
                        last_update_attempt: now,
                        failed_configuration: raw.clone(),
                    });
                    rs.data_error = Some(err.clone());
                    if rs.cached.is_some() && fail_on_data_errors {
                        rs.cached = None;
                    }
                    out.push(notify(if rs.cached.is_some() {
                        WatchEvent::AmbientError(err)
                    } else {
                        WatchEvent::Error(err)
                    }));
                }
                None if server_errors.contains_key(name) => {
                    if let Some(error) = server_errors.get(name) {
                        let origin = server_error::Origin {
                            kind,
                            server: &server,
                            version: &resp.version_info,
                            fail_on_data_errors,
                            now,
                        };
                        out.push(notify(server_error::apply(rs, error, name, &origin)));
                    }
                }
                None if kind.all_resources_required_in_sotw() && !has_nameless_error => {
                    // SotW deletion by absence (LDS/CDS). A name never heard of is left to its timer
                    // (or, timed out, stays so).
                    if matches!(
                        rs.status,
                        ResourceStatus::DoesNotExist | ResourceStatus::Timeout
                    ) || rs.unresolved()
                    {
                        continue;
                    }
                    let err = WatchError::Deleted {
                        kind,
                        name: name.clone(),
                        server: server.clone(),
                    };
                    rs.status = ResourceStatus::DoesNotExist;
                    rs.data_error = Some(err.clone());
                    if fail_on_data_errors {
                        rs.cached = None;
                    }
                    out.push(notify(if rs.cached.is_some() {
                        WatchEvent::AmbientError(err)
                    } else {
                        WatchEvent::DoesNotExist(err)
                    }));
                }
                None => {}
            }
        }

        let (version, error) = if problems.is_empty() {
            ts.version = resp.version_info.clone();
            (resp.version_info, None)
        } else {
            let message = format!(
                "rejected {} of {} {kind} resources in version `{}`: {}",
                problems.len(),
                resp.resources.len(),
                resp.version_info,
                problems.join("; ")
            );
            tracing::warn!(server = %server, "{message}");
            let status = Status {
                code: Code::InvalidArgument as i32,
                message,
                details: Vec::new(),
            };
            (ts.version.clone(), Some(status))
        };
        self.queue_request(kind, version, resp.nonce, error, now);
        out
    }

    /// Decode every resource of a response. Returns the outcome per requested name and the
    /// problems that could not be pinned on a requested name (nameless errors). Errors of
    /// resources that were not requested are ignored along with those resources.
    fn decode_all(
        &self,
        kind: ResourceKind,
        resources: &[Any],
    ) -> (BTreeMap<String, Outcome>, Vec<String>) {
        let subscribed = &self.types.get(&kind).map(|ts| &ts.resources);
        let wanted = |name: &str| subscribed.is_some_and(|r| r.contains_key(name));
        let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
        let mut nameless = Vec::new();
        for any in resources {
            let (name, outcome) = match (self.decode)(kind, any, &self.config.decode_context) {
                Ok((name, resource)) => (name, Outcome::Valid(resource, any.clone())),
                Err(e) => match e.name.clone() {
                    Some(name) => (name, Outcome::Invalid(e.to_string(), Some(any.clone()))),
                    None => {
                        nameless.push(e.to_string());
                        continue;
                    }
                },
            };
            // Federation names match whatever order the server wrote their context params in.
            let name = canonical_name(&name);
            if !wanted(&name) {
                continue;
            }
            match outcomes.entry(name) {
                Entry::Occupied(mut slot) => {
                    let message = format!(
                        "{kind} resource `{}` appears more than once in the response",
                        slot.key()
                    );
                    slot.insert(Outcome::Invalid(message, Some(any.clone())));
                }
                Entry::Vacant(slot) => {
                    slot.insert(outcome);
                }
            }
        }
        (outcomes, nameless)
    }
}
