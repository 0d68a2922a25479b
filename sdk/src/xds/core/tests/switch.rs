//! The core's side of fallback (gRFC A71): what counts as cached, what a new server is asked
//! for, and that the cache survives a switch.

use super::*;

#[test]
fn nacked_and_missing_resources_count_as_cached_only_unheard_ones_do_not() {
    let mut h = Harness::connected(&[]);
    assert!(!h.core.has_uncached(), "nothing watched, nothing missing");
    h.sub(LDS, "good");
    h.sub(LDS, "bad");
    h.sub(LDS, "gone");
    assert!(h.core.has_uncached());
    h.respond(
        LDS,
        "v1",
        "n1",
        vec![fx::listener("good", "r"), fx::invalid_listener("bad")],
    );
    assert!(h.core.has_uncached(), "`gone` never heard of");
    h.core.on_tick(h.at(16.0));
    assert!(!h.core.has_uncached(), "does-not-exist counts as cached");
}

#[test]
fn switching_servers_keeps_the_cache_and_asks_the_new_server_for_everything() {
    let mut h = Harness::connected(&[]);
    h.sub(LDS, "a");
    h.sub(CDS, "c");
    h.respond(LDS, "v1", "n1", vec![fx::listener("a", "r")]);
    h.core.take_requests();

    let probe = h.core.fresh_stream_requests();
    assert_eq!(probe.len(), 2);
    assert!(probe[0].node.is_some() && probe[1].node.is_none());
    assert!(
        probe
            .iter()
            .all(|r| r.version_info.is_empty() && r.response_nonce.is_empty())
    );
    assert!(h.core.take_requests().is_empty(), "probing queues nothing");

    h.core.on_stream_closed(false, "refused");
    let b = fx::bootstrap("127.0.0.1:18001", &[]);
    h.core.switch_server(CoreConfig::new(&b, &b.xds_servers[0]));
    h.core.on_stream_connected(h.t0);
    let reqs = h.core.take_requests();
    assert!(reqs.iter().all(|r| r.version_info.is_empty()), "{reqs:#?}");
    assert!(matches!(h.sub(LDS, "a"), Some(WatchEvent::Changed(_))));
    let dump = h.core.config_dump(h.t0);
    assert_eq!(dump.server_uri, "127.0.0.1:18001");
    assert_eq!(
        (dump.resources[0].name.as_str(), dump.resources[0].status),
        ("a", ResourceStatus::Acked)
    );
}
