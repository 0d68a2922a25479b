//! Shell tests over a real loopback socket against the fake ADS server of `test_server`, driven
//! step by step by each test.
//!
//! These run on real time with a fast backoff; every wait is bounded.

use super::*;
use crate::xds::dump::ResourceStatus;
use crate::xds::error::WatchError;
use crate::xds::test_fixtures as fx;
use crate::xds::test_server::{FakeServer, bounded, fast_options};

mod fallback;
mod federation;

const LDS: ResourceKind = ResourceKind::Listener;

fn client_for(server: &FakeServer) -> XdsClient {
    XdsClient::with_options(
        &fx::bootstrap(&server.addr.to_string(), &[]),
        fast_options(),
    )
    .expect("client")
}

async fn next_event(w: &mut ResourceWatcher) -> WatchEvent {
    bounded(w.next()).await.expect("watcher open")
}

#[tokio::test]
async fn watch_receives_the_resource_and_the_client_acks() {
    let mut server = FakeServer::start().await;
    let client = client_for(&server);
    let mut w = client.watch(LDS, "a");
    let mut stream = server.next_stream().await;
    let first = stream.next_request().await;
    assert!(first.node.is_some());
    assert_eq!(first.resource_names, ["a"]);

    stream
        .send(fx::response(LDS, "v1", "n1", vec![fx::listener("a", "r")]))
        .await;
    assert!(matches!(next_event(&mut w).await, WatchEvent::Changed(_)));
    let ack = stream.next_request().await;
    assert_eq!(
        (ack.version_info.as_str(), ack.response_nonce.as_str()),
        ("v1", "n1")
    );
    assert!(ack.node.is_none());
    assert_eq!(client.connection_status().state, ConnectionState::Connected);

    // A second watcher gets the cached value at once; dropping it keeps the subscription.
    let mut w2 = client.watch(LDS, "a");
    assert!(matches!(next_event(&mut w2).await, WatchEvent::Changed(_)));
    drop(w2);
    let dump = client.config_dump();
    assert_eq!(dump.resources.len(), 1);
    assert_eq!(dump.resources[0].status, ResourceStatus::Acked);
    assert_eq!(dump.resources[0].xds_config, Some(fx::listener("a", "r")));

    // Dropping the last watcher unsubscribes.
    drop(w);
    let unsub = stream.next_request().await;
    assert!(unsub.resource_names.is_empty());
    assert_eq!(unsub.version_info, "v1");
}

#[tokio::test]
async fn reconnects_after_the_server_drops_the_stream() {
    let mut server = FakeServer::start().await;
    let client = client_for(&server);
    let mut w = client.watch(LDS, "a");
    let mut stream = server.next_stream().await;
    stream.next_request().await;
    stream
        .send(fx::response(LDS, "v1", "n1", vec![fx::listener("a", "r")]))
        .await;
    assert!(matches!(next_event(&mut w).await, WatchEvent::Changed(_)));
    stream.next_request().await;
    drop(stream);

    let mut stream = server.next_stream().await;
    let again = stream.next_request().await;
    assert!(again.node.is_some(), "node on the new stream");
    assert_eq!(again.version_info, "v1");
    assert_eq!(again.response_nonce, "");
    assert_eq!(again.resource_names, ["a"]);
    // The same content on the new stream is not news for the watcher; a new listener is.
    stream
        .send(fx::response(LDS, "v1", "n2", vec![fx::listener("a", "r")]))
        .await;
    stream.next_request().await;
    let mut w_b = client.watch(LDS, "b");
    let grown = stream.next_request().await;
    assert_eq!(grown.resource_names, ["a", "b"]);
    stream
        .send(fx::response(
            LDS,
            "v2",
            "n3",
            vec![fx::listener("a", "r"), fx::listener("b", "r")],
        ))
        .await;
    assert!(matches!(next_event(&mut w_b).await, WatchEvent::Changed(_)));
    assert!(
        w.events.try_recv().is_err(),
        "no event for the unchanged `a`"
    );
}

#[tokio::test]
async fn cached_config_keeps_serving_while_the_server_is_down() {
    let mut server = FakeServer::start().await;
    let client = client_for(&server);
    let mut w = client.watch(LDS, "a");
    let mut stream = server.next_stream().await;
    stream.next_request().await;
    stream
        .send(fx::response(LDS, "v1", "n1", vec![fx::listener("a", "r")]))
        .await;
    assert!(matches!(next_event(&mut w).await, WatchEvent::Changed(_)));
    stream.next_request().await;
    drop(stream);
    server.stop().await;

    match next_event(&mut w).await {
        WatchEvent::AmbientError(WatchError::Unreachable { .. }) => {}
        other => panic!("expected an ambient unreachable error, got {other:?}"),
    }
    let dump = client.config_dump();
    assert_eq!(dump.resources[0].status, ResourceStatus::Acked);
    assert!(dump.resources[0].xds_config.is_some());
    let status = client.connection_status();
    assert_ne!(status.state, ConnectionState::Connected);
    assert!(status.last_error.is_some());
    // A new watcher of the cached resource still gets it.
    let mut w2 = client.watch(LDS, "a");
    assert!(matches!(next_event(&mut w2).await, WatchEvent::Changed(_)));
}

#[tokio::test]
async fn dropping_the_last_client_handle_stops_the_stream() {
    let mut server = FakeServer::start().await;
    let client = client_for(&server);
    let clone = client.clone();
    let mut w = client.watch(LDS, "a");
    let mut stream = server.next_stream().await;
    stream.next_request().await;
    drop(client);
    drop(clone);
    assert_eq!(bounded(w.next()).await, None, "watchers see the end");
    let ended = bounded(stream.requests.message()).await;
    assert!(
        !matches!(ended, Ok(Some(_))),
        "request stream ends: {ended:?}"
    );
}

/// Waits (bounded) until the connection status satisfies `pred`.
async fn status_until(client: &XdsClient, pred: impl Fn(&ConnectionStatus) -> bool) {
    let mut changes = client.watch_connection();
    bounded(changes.wait_for(|s| pred(s)))
        .await
        .expect("status channel open");
}

/// gRFC A57/A78: a server's stream is "working" from its first response, stays so when a stream
/// that had responses breaks, and stops being so when a stream ends without any response (here:
/// the server is gone, so connecting fails). ADS streams are counted for channelz.
#[tokio::test]
async fn a_stream_is_working_from_its_first_response_until_a_stream_fails_without_one() {
    let mut server = FakeServer::start().await;
    let client = client_for(&server);
    let mut w = client.watch(LDS, "a");
    let mut stream = server.next_stream().await;
    stream.next_request().await;
    status_until(&client, |s| s.state == ConnectionState::Connected).await;
    let before = client.connection_status();
    assert!(!before.working, "connected but no response yet: {before:?}");
    assert_eq!((before.streams_started, before.streams_ended), (1, 0));

    stream
        .send(fx::response(LDS, "v1", "n1", vec![fx::listener("a", "r")]))
        .await;
    assert!(matches!(next_event(&mut w).await, WatchEvent::Changed(_)));
    status_until(&client, |s| s.working).await;

    drop(stream);
    server.stop().await;
    status_until(&client, |s| s.streams_ended >= 1).await;
    status_until(&client, |s| !s.working && s.streams_ended >= 2).await;
    let after = client.connection_status();
    assert!(after.streams_started >= after.streams_ended);
}
