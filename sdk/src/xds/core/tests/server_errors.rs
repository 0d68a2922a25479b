//! Server-sent per-resource errors (xRFC TP3 `resource_errors`, gRFC A88): data vs transient
//! codes, with and without a cached value, `fail_on_data_errors`, timers, CSDS status and ACK.

use meshwork_proto::envoy::service::discovery::v3::{ResourceError, ResourceName};
use meshwork_proto::google::rpc::{Code, Status};

use super::*;

fn with_errors(
    kind: ResourceKind,
    version: &str,
    nonce: &str,
    resources: Vec<Any>,
    errors: &[(&str, Code)],
) -> meshwork_proto::envoy::service::discovery::v3::DiscoveryResponse {
    let mut resp = fx::response(kind, version, nonce, resources);
    resp.resource_errors = errors
        .iter()
        .map(|(name, code)| ResourceError {
            resource_name: Some(ResourceName {
                name: name.to_string(),
                ..Default::default()
            }),
            error_detail: Some(Status {
                code: *code as i32,
                message: format!("{name} says {}", code.as_str_name()),
                details: Vec::new(),
            }),
        })
        .collect();
    resp
}

fn event_for<'a>(notes: &'a [Notification], name: &str) -> &'a WatchEvent {
    let found = notes.iter().find(|n| n.name == name);
    &found
        .unwrap_or_else(|| panic!("no event for `{name}` in {notes:#?}"))
        .event
}

#[test]
fn errors_without_a_cached_value_fail_the_watcher_and_stop_the_timer() {
    let mut h = Harness::connected(&[]);
    for name in ["missing", "denied", "busy"] {
        h.sub(LDS, name);
    }
    h.core.take_requests();
    let resp = with_errors(
        LDS,
        "v1",
        "n1",
        vec![],
        &[
            ("missing", Code::NotFound),
            ("denied", Code::PermissionDenied),
            ("busy", Code::Unavailable),
        ],
    );
    let notes = h.core.on_response(resp, h.t0);
    assert!(matches!(
        event_for(&notes, "missing"),
        WatchEvent::DoesNotExist(WatchError::ServerError { code, .. }) if code == "NOT_FOUND"
    ));
    assert!(matches!(
        event_for(&notes, "denied"),
        WatchEvent::Error(WatchError::ServerError { .. })
    ));
    assert!(matches!(
        event_for(&notes, "busy"),
        WatchEvent::Error(WatchError::ServerError { .. })
    ));
    assert_eq!(h.core.next_deadline(), None, "timers stopped");

    // Server errors are not a validation failure: the response is ACKed.
    let ack = h.one_request();
    assert_eq!(ack.version_info, "v1");
    assert!(ack.error_detail.is_none());
    let dump = h.core.config_dump(h.t0);
    assert!(
        dump.resources
            .iter()
            .all(|r| r.status == ResourceStatus::ReceivedError)
    );
    assert_eq!(dump.resources[0].status.csds_value(), 5);
    assert!(dump.resources.iter().all(|r| r.error_state.is_some()));
    // A new watcher of the missing resource learns it does not exist.
    assert!(matches!(
        h.sub(LDS, "missing"),
        Some(WatchEvent::DoesNotExist(_))
    ));
}

#[test]
fn cached_values_keep_serving_unless_fail_on_data_errors_and_a_data_code() {
    for (features, code, keeps) in [
        (&[][..], Code::NotFound, true),
        (&[][..], Code::Internal, true),
        (&["fail_on_data_errors"][..], Code::PermissionDenied, false),
        (&["fail_on_data_errors"][..], Code::Unavailable, true),
    ] {
        let mut h = Harness::connected(features);
        h.sub(LDS, "a");
        h.respond(LDS, "v1", "n1", vec![fx::listener("a", "r")]);
        let notes = h
            .core
            .on_response(with_errors(LDS, "v2", "n2", vec![], &[("a", code)]), h.t0);
        let event = event_for(&notes, "a");
        let dump = h.core.config_dump(h.t0);
        if keeps {
            assert!(
                matches!(event, WatchEvent::AmbientError(_)),
                "{code:?}: {event:?}"
            );
            assert!(
                dump.resources[0].xds_config.is_some(),
                "{code:?} keeps the value"
            );
        } else {
            assert!(matches!(event, WatchEvent::Error(_)), "{code:?}: {event:?}");
            assert!(
                dump.resources[0].xds_config.is_none(),
                "{code:?} drops the value"
            );
        }
    }
}

#[test]
fn an_lds_error_is_not_a_deletion_and_unsubscribed_names_are_ignored() {
    let mut h = Harness::connected(&[]);
    h.sub(LDS, "a");
    h.sub(LDS, "b");
    h.respond(
        LDS,
        "v1",
        "n1",
        vec![fx::listener("a", "r"), fx::listener("b", "r")],
    );
    let resp = with_errors(
        LDS,
        "v2",
        "n2",
        vec![fx::listener("a", "r")],
        &[("b", Code::Unavailable), ("other", Code::NotFound)],
    );
    let notes = h.core.on_response(resp, h.t0);
    assert!(matches!(
        event_for(&notes, "b"),
        WatchEvent::AmbientError(WatchError::ServerError { .. })
    ));
    assert!(notes.iter().all(|n| n.name != "other"));
    let dump = h.core.config_dump(h.t0);
    assert_eq!(dump.resources[1].status, ResourceStatus::ReceivedError);
}
