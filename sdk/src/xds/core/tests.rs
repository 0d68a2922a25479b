//! Plain tests of the ADS protocol core: what goes on the wire and what watchers are told.

use std::time::Duration;

use meshwork_proto::envoy::config::listener::v3::Listener as ListenerPb;
use meshwork_proto::envoy::service::discovery::v3::DiscoveryRequest;
use meshwork_proto::google::protobuf::Any;
use prost::Message;
use tokio::time::Instant;

use super::*;
use crate::xds::test_fixtures as fx;

mod server_errors;
mod switch;
mod timers;

const LDS: ResourceKind = ResourceKind::Listener;
const RDS: ResourceKind = ResourceKind::RouteConfiguration;
const CDS: ResourceKind = ResourceKind::Cluster;
const EDS: ResourceKind = ResourceKind::ClusterLoadAssignment;

/// The real decoder, plus the rule gRPC's validator applies that the placeholder decoder lacks:
/// a listener must be an API listener.
fn strict_decode(
    kind: ResourceKind,
    any: &Any,
    ctx: &DecodeContext,
) -> Result<(String, Resource), DecodeError> {
    if kind == LDS
        && any.type_url == kind.type_url()
        && let Ok(l) = ListenerPb::decode(any.value.as_slice())
        && l.api_listener.is_none()
    {
        return Err(DecodeError {
            kind,
            name: Some(l.name),
            message: "not an API listener; expected api_listener".to_string(),
        });
    }
    resource::decode(kind, any, ctx)
}

struct Harness {
    core: AdsCore,
    t0: Instant,
}

impl Harness {
    fn new(features: &[&str]) -> Self {
        let b = fx::bootstrap("127.0.0.1:18000", features);
        let core = AdsCore::new(CoreConfig::new(&b, &b.xds_servers[0])).with_decoder(strict_decode);
        Harness {
            core,
            t0: Instant::now(),
        }
    }

    fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }

    fn connected(features: &[&str]) -> Self {
        let mut h = Harness::new(features);
        h.core.on_stream_connected(h.t0);
        h
    }

    fn sub(&mut self, kind: ResourceKind, name: &str) -> Option<WatchEvent> {
        self.core.subscribe(kind, name, self.t0)
    }

    fn respond(&mut self, kind: ResourceKind, v: &str, n: &str, r: Vec<Any>) -> Vec<Notification> {
        self.core.on_response(fx::response(kind, v, n, r), self.t0)
    }

    fn one_request(&mut self) -> DiscoveryRequest {
        let mut reqs = self.core.take_requests();
        assert_eq!(reqs.len(), 1, "expected exactly one request, got {reqs:#?}");
        reqs.remove(0)
    }
}

fn events(notes: &[Notification]) -> Vec<(&str, &WatchEvent)> {
    notes.iter().map(|n| (n.name.as_str(), &n.event)).collect()
}

#[test]
fn node_goes_only_on_the_first_request_of_each_stream() {
    let mut h = Harness::connected(&[]);
    h.sub(LDS, "a");
    h.sub(CDS, "c");
    let reqs = h.core.take_requests();
    assert_eq!(reqs.len(), 2);
    let node = reqs[0].node.as_ref().expect("node on first request");
    assert_eq!(node.id, "meshwork-test-node");
    assert_eq!(node.user_agent_name, "meshwork");
    assert!(
        node.client_features
            .iter()
            .any(|f| f == "xds.config.resource-in-sotw")
    );
    assert!(reqs[1].node.is_none());

    h.core.on_stream_closed(true, "bye");
    h.core.on_stream_connected(h.t0);
    let reqs = h.core.take_requests();
    assert!(reqs[0].node.is_some(), "node again on a new stream");
    assert!(reqs[1..].iter().all(|r| r.node.is_none()));
}

#[test]
fn ack_carries_the_response_version_and_nonce() {
    let mut h = Harness::connected(&[]);
    h.sub(LDS, "a");
    let first = h.one_request();
    assert_eq!(
        (first.version_info.as_str(), first.response_nonce.as_str()),
        ("", "")
    );
    assert_eq!(first.resource_names, ["a"]);
    let notes = h.respond(LDS, "v1", "n1", vec![fx::listener("a", "r")]);
    assert!(matches!(
        events(&notes)[..],
        [("a", WatchEvent::Changed(_))]
    ));
    let ack = h.one_request();
    assert_eq!(ack.version_info, "v1");
    assert_eq!(ack.response_nonce, "n1");
    assert_eq!(ack.resource_names, ["a"]);
    assert!(ack.error_detail.is_none());
}

#[test]
fn nack_sends_last_accepted_version_and_keeps_the_previous_resource() {
    let mut h = Harness::connected(&[]);
    h.sub(LDS, "a");
    h.respond(LDS, "v1", "n1", vec![fx::listener("a", "r")]);
    h.core.take_requests();

    let notes = h.respond(LDS, "v2", "n2", vec![fx::invalid_listener("a")]);
    match &events(&notes)[..] {
        [("a", WatchEvent::AmbientError(WatchError::Invalid { version, .. }))] => {
            assert_eq!(version, "v2")
        }
        other => panic!("expected an ambient NACK error, got {other:?}"),
    }
    let nack = h.one_request();
    assert_eq!(nack.version_info, "v1");
    assert_eq!(nack.response_nonce, "n2");
    let status = nack.error_detail.expect("error_detail on NACK");
    assert_eq!(status.code, 3, "INVALID_ARGUMENT");
    assert!(status.message.contains("`a`"), "{}", status.message);
    assert!(
        status.message.contains("api_listener"),
        "{}",
        status.message
    );

    let dump = h.core.config_dump(h.t0);
    let a = &dump.resources[0];
    assert_eq!(a.status, ResourceStatus::Nacked);
    assert_eq!(a.version_info, "v1", "still serving v1");
    assert_eq!(a.xds_config, Some(fx::listener("a", "r")));
    let err = a.error_state.as_ref().expect("error state");
    assert_eq!(err.version_info, "v2");
    assert_eq!(err.failed_configuration, Some(fx::invalid_listener("a")));

    // A new watcher still gets the good value.
    assert!(matches!(h.sub(LDS, "a"), Some(WatchEvent::Changed(_))));
}

#[test]
fn fail_on_data_errors_drops_the_cached_resource_on_nack() {
    let mut h = Harness::connected(&["fail_on_data_errors"]);
    h.sub(LDS, "a");
    h.respond(LDS, "v1", "n1", vec![fx::listener("a", "r")]);
    let notes = h.respond(LDS, "v2", "n2", vec![fx::invalid_listener("a")]);
    assert!(matches!(events(&notes)[..], [("a", WatchEvent::Error(_))]));
    assert_eq!(h.core.config_dump(h.t0).resources[0].xds_config, None);
}

#[test]
fn partly_invalid_response_applies_the_valid_resources_and_nacks() {
    let mut h = Harness::connected(&[]);
    h.sub(LDS, "good");
    h.sub(LDS, "bad");
    h.core.take_requests();
    let notes = h.respond(
        LDS,
        "v1",
        "n1",
        vec![fx::listener("good", "r"), fx::invalid_listener("bad")],
    );
    let ev = events(&notes);
    assert!(ev.contains(&("good", &WatchEvent::Changed(changed_value(&notes, "good")))));
    assert!(matches!(
        ev.iter().find(|(n, _)| *n == "bad"),
        Some((_, WatchEvent::Error(WatchError::Invalid { .. })))
    ));
    let nack = h.one_request();
    assert_eq!(nack.version_info, "", "nothing accepted before");
    assert!(nack.error_detail.is_some());
    let statuses: Vec<_> = h
        .core
        .config_dump(h.t0)
        .resources
        .iter()
        .map(|r| (r.name.clone(), r.status))
        .collect();
    assert!(statuses.contains(&("good".to_string(), ResourceStatus::Acked)));
    assert!(statuses.contains(&("bad".to_string(), ResourceStatus::Nacked)));
}

fn changed_value(notes: &[Notification], name: &str) -> Resource {
    notes
        .iter()
        .find_map(|n| match (&n.event, n.name == name) {
            (WatchEvent::Changed(r), true) => Some(r.clone()),
            _ => None,
        })
        .expect("a Changed event")
}

#[test]
fn duplicate_names_make_the_resource_invalid() {
    let mut h = Harness::connected(&[]);
    h.sub(CDS, "c");
    h.core.take_requests();
    let notes = h.respond(CDS, "v1", "n1", vec![fx::cluster("c"), fx::cluster("c")]);
    assert!(matches!(
        events(&notes)[..],
        [("c", WatchEvent::Error(WatchError::Invalid { .. }))]
    ));
    let nack = h.one_request();
    let msg = nack.error_detail.map(|s| s.message).unwrap_or_default();
    assert!(msg.contains("more than once"), "{msg}");
}

#[test]
fn unrequested_resources_are_ignored() {
    let mut h = Harness::connected(&[]);
    h.sub(CDS, "c");
    h.core.take_requests();
    let notes = h.respond(
        CDS,
        "v1",
        "n1",
        vec![fx::cluster("c"), fx::cluster("other")],
    );
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].name, "c");
    let ack = h.one_request();
    assert!(ack.error_detail.is_none());
    assert_eq!(ack.resource_names, ["c"]);
    assert_eq!(h.core.config_dump(h.t0).resources.len(), 1);
}

#[test]
fn a_resource_of_the_wrong_type_nacks_the_response() {
    let mut h = Harness::connected(&[]);
    h.sub(CDS, "c");
    h.core.take_requests();
    h.respond(
        CDS,
        "v1",
        "n1",
        vec![fx::cluster("c"), fx::listener("l", "r")],
    );
    let nack = h.one_request();
    assert_eq!(nack.version_info, "");
    assert!(nack.error_detail.is_some());
    // The valid cluster is still accepted.
    assert_eq!(
        h.core.config_dump(h.t0).resources[0].status,
        ResourceStatus::Acked
    );
}

#[test]
fn unchanged_resend_does_not_notify() {
    let mut h = Harness::connected(&[]);
    h.sub(EDS, "e");
    assert_eq!(
        h.respond(EDS, "v1", "n1", vec![fx::cluster_load_assignment("e", 1)])
            .len(),
        1
    );
    assert!(
        h.respond(EDS, "v2", "n2", vec![fx::cluster_load_assignment("e", 1)])
            .is_empty()
    );
    assert_eq!(h.core.config_dump(h.t0).resources[0].version_info, "v2");
}

#[test]
fn reconnect_resends_every_type_with_last_version_empty_nonce_full_names() {
    let mut h = Harness::connected(&[]);
    h.sub(LDS, "l");
    h.sub(CDS, "c1");
    h.sub(CDS, "c2");
    h.respond(LDS, "lv1", "n1", vec![fx::listener("l", "r")]);
    h.respond(CDS, "cv1", "n2", vec![fx::cluster("c1"), fx::cluster("c2")]);
    h.respond(CDS, "cv2", "n3", vec![fx::invalid_listener("x")]); // NACKed: version stays cv1
    h.core.take_requests();
    h.core.on_stream_closed(true, "bye");
    h.core.on_stream_connected(h.t0);
    let reqs = h.core.take_requests();
    let summary: Vec<_> = reqs
        .iter()
        .map(|r| {
            (
                r.type_url.as_str(),
                r.version_info.as_str(),
                r.response_nonce.as_str(),
                r.resource_names.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (LDS.type_url(), "lv1", "", vec!["l".to_string()]),
            (
                CDS.type_url(),
                "cv1",
                "",
                vec!["c1".to_string(), "c2".to_string()]
            ),
        ],
        "no request for RDS/EDS, never subscribed"
    );
}

#[test]
fn name_set_changes_are_sent_at_the_current_version_and_nonce() {
    let mut h = Harness::connected(&[]);
    h.sub(CDS, "c1");
    h.respond(CDS, "v1", "n1", vec![fx::cluster("c1")]);
    h.core.take_requests();
    h.sub(CDS, "c2");
    let r = h.one_request();
    assert_eq!(
        (r.version_info.as_str(), r.response_nonce.as_str()),
        ("v1", "n1")
    );
    assert_eq!(r.resource_names, ["c1", "c2"]);
    h.core.unsubscribe(CDS, "c1", h.t0);
    assert_eq!(h.one_request().resource_names, ["c2"]);
    h.core.unsubscribe(CDS, "c2", h.t0);
    let r = h.one_request();
    assert!(r.resource_names.is_empty(), "empty list unsubscribes all");
    assert_eq!(r.type_url, CDS.type_url());
}

#[test]
fn lds_cds_deletion_is_ambient_by_default_and_rds_eds_are_never_deleted_by_absence() {
    let mut h = Harness::connected(&[]);
    h.sub(LDS, "a");
    h.sub(LDS, "b");
    h.respond(
        LDS,
        "v1",
        "n1",
        vec![fx::listener("a", "r"), fx::listener("b", "r")],
    );
    let notes = h.respond(LDS, "v2", "n2", vec![fx::listener("a", "r")]);
    assert!(matches!(
        events(&notes)[..],
        [("b", WatchEvent::AmbientError(WatchError::Deleted { .. }))]
    ));
    let dump = h.core.config_dump(h.t0);
    let b = dump.resources.iter().find(|r| r.name == "b").expect("b");
    assert!(b.xds_config.is_some(), "A88: cache keeps serving");
    // Not reported twice.
    assert!(
        h.respond(LDS, "v3", "n3", vec![fx::listener("a", "r")])
            .is_empty()
    );

    h.sub(RDS, "r1");
    h.sub(RDS, "r2");
    h.respond(
        RDS,
        "v1",
        "n4",
        vec![
            fx::route_configuration("r1", "c"),
            fx::route_configuration("r2", "c"),
        ],
    );
    assert!(
        h.respond(RDS, "v2", "n5", vec![fx::route_configuration("r1", "c")])
            .is_empty()
    );
    h.sub(EDS, "e");
    h.respond(EDS, "v1", "n6", vec![fx::cluster_load_assignment("e", 1)]);
    assert!(h.respond(EDS, "v2", "n7", vec![]).is_empty());
    assert_eq!(
        h.core
            .config_dump(h.t0)
            .resources
            .iter()
            .filter(|r| r.status == ResourceStatus::Acked)
            .count(),
        4
    );
}

#[test]
fn deletion_with_fail_on_data_errors_drops_the_resource() {
    let mut h = Harness::connected(&["fail_on_data_errors"]);
    h.sub(CDS, "c");
    h.respond(CDS, "v1", "n1", vec![fx::cluster("c")]);
    let notes = h.respond(CDS, "v2", "n2", vec![]);
    assert!(matches!(
        events(&notes)[..],
        [("c", WatchEvent::DoesNotExist(WatchError::Deleted { .. }))]
    ));
    assert_eq!(h.core.config_dump(h.t0).resources[0].xds_config, None);
    assert!(matches!(h.sub(CDS, "c"), Some(WatchEvent::DoesNotExist(_))));
}

#[test]
fn a_stream_that_fails_before_any_response_is_a_transient_error() {
    let mut h = Harness::connected(&[]);
    h.sub(LDS, "cached");
    h.sub(LDS, "uncached");
    h.respond(LDS, "v1", "n1", vec![fx::listener("cached", "r")]);
    assert!(h.core.on_stream_closed(true, "rebalance").is_empty());
    h.core.on_stream_connected(h.t0);
    let notes = h.core.on_stream_closed(false, "connection refused");
    let ev = events(&notes);
    assert!(matches!(
        ev.iter().find(|(n, _)| *n == "cached"),
        Some((_, WatchEvent::AmbientError(WatchError::Unreachable { .. })))
    ));
    assert!(matches!(
        ev.iter().find(|(n, _)| *n == "uncached"),
        Some((_, WatchEvent::Error(WatchError::Unreachable { .. })))
    ));
    // A watcher arriving while the server is unreachable learns it at once.
    assert!(matches!(h.sub(CDS, "new"), Some(WatchEvent::Error(_))));
    // Retries failing the same way are not repeated; a different failure is.
    h.core.on_stream_connected(h.t0);
    assert!(
        h.core
            .on_stream_closed(false, "connection refused")
            .is_empty()
    );
    h.core.on_stream_connected(h.t0);
    assert!(
        !h.core
            .on_stream_closed(false, "tls handshake failed")
            .is_empty()
    );
}
