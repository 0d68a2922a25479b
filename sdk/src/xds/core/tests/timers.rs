//! Does-not-exist timers (gRFC A57, A88): when they start, stop, fire and restart.

use super::*;

#[test]
fn does_not_exist_fires_after_15s_and_not_before() {
    let mut h = Harness::connected(&[]);
    h.sub(LDS, "missing");
    assert_eq!(h.core.next_deadline(), Some(h.at(15.0)));
    assert!(h.core.on_tick(h.at(14.9)).is_empty());
    let notes = h.core.on_tick(h.at(15.0));
    match &events(&notes)[..] {
        [("missing", WatchEvent::DoesNotExist(e @ WatchError::NotFound { .. }))] => {
            let text = e.to_string();
            assert!(
                text.contains("missing") && text.contains("127.0.0.1:18000"),
                "{text}"
            );
        }
        other => panic!("expected DoesNotExist, got {other:?}"),
    }
    assert_eq!(
        h.core.config_dump(h.t0).resources[0].status,
        ResourceStatus::DoesNotExist
    );
    // A new watcher learns it at once; a late resource is still accepted.
    assert!(matches!(
        h.sub(LDS, "missing"),
        Some(WatchEvent::DoesNotExist(_))
    ));
    let notes = h.respond(LDS, "v1", "n1", vec![fx::listener("missing", "r")]);
    assert!(matches!(
        events(&notes)[..],
        [("missing", WatchEvent::Changed(_))]
    ));
}

#[test]
fn resource_timer_is_transient_error_waits_30s_and_reports_a_timeout_not_a_missing_resource() {
    let mut h = Harness::connected(&["resource_timer_is_transient_error"]);
    h.sub(LDS, "slow");
    assert!(h.core.on_tick(h.at(29.0)).is_empty());
    let notes = h.core.on_tick(h.at(30.0));
    match &events(&notes)[..] {
        [("slow", WatchEvent::Error(e @ WatchError::TimedOut { .. }))] => {
            assert!(e.to_string().contains("30s"), "{e}");
        }
        other => panic!("expected a transient timeout error, got {other:?}"),
    }
    let dump = h.core.config_dump(h.t0);
    assert_eq!(dump.resources[0].status, ResourceStatus::Timeout);
    assert_eq!(dump.resources[0].status.csds_value(), 6);
    // A new watcher gets the same error; an LDS response without the name does not turn the
    // timeout into a deletion; the resource arriving later is accepted.
    assert!(matches!(
        h.sub(LDS, "slow"),
        Some(WatchEvent::Error(WatchError::TimedOut { .. }))
    ));
    h.sub(LDS, "other");
    let notes = h.respond(LDS, "v1", "n1", vec![fx::listener("other", "r")]);
    assert!(
        events(&notes).iter().all(|(name, _)| *name != "slow"),
        "{notes:?}"
    );
    assert_eq!(
        h.core.config_dump(h.t0).resources[1].status,
        ResourceStatus::Timeout
    );
    let notes = h.respond(
        LDS,
        "v2",
        "n2",
        vec![fx::listener("other", "r"), fx::listener("slow", "r")],
    );
    assert!(
        events(&notes)
            .iter()
            .any(|(name, e)| *name == "slow" && matches!(e, WatchEvent::Changed(_))),
        "{notes:?}"
    );
}

#[test]
fn timer_does_not_run_while_disconnected() {
    let mut h = Harness::new(&[]);
    h.sub(LDS, "a");
    assert!(
        h.core.take_requests().is_empty(),
        "nothing to send without a stream"
    );
    assert_eq!(h.core.next_deadline(), None);
    assert!(h.core.on_tick(h.at(60.0)).is_empty());

    h.core.on_stream_connected(h.at(60.0));
    assert_eq!(h.core.next_deadline(), Some(h.at(75.0)));
    // The stream drops before the timer fires: the timer stops with it.
    h.core.on_stream_closed(false, "refused");
    assert!(h.core.on_tick(h.at(80.0)).is_empty());
}

#[test]
fn new_stream_restarts_timers_only_for_unresolved_names() {
    let mut h = Harness::connected(&[]);
    h.sub(CDS, "known");
    h.sub(CDS, "pending");
    h.respond(CDS, "v1", "n1", vec![fx::cluster("known")]);
    h.core.on_stream_closed(true, "rebalance");
    h.core.on_stream_connected(h.at(100.0));
    assert_eq!(h.core.next_deadline(), Some(h.at(115.0)));
    let notes = h.core.on_tick(h.at(115.0));
    assert_eq!(events(&notes).len(), 1);
    assert_eq!(notes[0].name, "pending");
}
