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
fn resource_timer_is_transient_error_waits_30s() {
    let mut h = Harness::connected(&["resource_timer_is_transient_error"]);
    h.sub(LDS, "missing");
    assert!(h.core.on_tick(h.at(29.0)).is_empty());
    assert_eq!(h.core.on_tick(h.at(30.0)).len(), 1);
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
