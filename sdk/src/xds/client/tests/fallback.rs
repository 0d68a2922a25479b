//! Fallback to the next `xds_servers` entry and revert to the primary (gRFC A71), over loopback
//! with two fake control planes.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use super::*;
use crate::bootstrap::XdsServer;

/// A loopback address nothing listens on (bound, then released).
async fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr")
}

/// Stops a helper task when the test ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn client_with(primary: SocketAddr, fallback: SocketAddr) -> XdsClient {
    let b = fx::bootstrap(&primary.to_string(), &[])
        .with_fallback(XdsServer::insecure(fallback.to_string()));
    XdsClient::with_options(&b, fast_options()).expect("client")
}

#[tokio::test]
async fn primary_down_at_start_falls_back_then_reverts_when_it_returns() {
    let primary_addr = free_addr().await;
    let mut fallback = FakeServer::start().await;
    let client = client_with(primary_addr, fallback.addr);
    let mut w = client.watch(LDS, "a");

    // Watchers hear that the primary is unreachable, then the fallback serves.
    match next_event(&mut w).await {
        WatchEvent::Error(WatchError::Unreachable { server, .. }) => {
            assert_eq!(server, primary_addr.to_string());
        }
        other => panic!("expected the primary to be unreachable, got {other:?}"),
    }
    let mut fs = fallback.next_stream().await;
    let first = fs.next_request().await;
    assert!(first.node.is_some());
    assert_eq!(first.resource_names, ["a"]);
    fs.send(fx::response(LDS, "f1", "n1", vec![fx::listener("a", "r")]))
        .await;
    assert!(matches!(next_event(&mut w).await, WatchEvent::Changed(_)));
    assert_eq!(fs.next_request().await.version_info, "f1");
    let status = client.connection_status();
    assert_eq!(status.state, ConnectionState::Connected);
    assert_eq!(status.server_uri, fallback.addr.to_string());

    // The primary comes back. The client probes it with the current subscriptions; once it
    // answers, the client reverts to it and closes the fallback stream.
    let mut primary = FakeServer::start_on(primary_addr).await;
    let mut probe = primary.next_stream().await;
    let asked = probe.next_request().await;
    assert!(asked.node.is_some());
    assert_eq!(asked.resource_names, ["a"]);
    assert!(
        fallback.streams.try_recv().is_err(),
        "the fallback serves until the primary answers"
    );
    probe
        .send(fx::response(
            LDS,
            "p7",
            "probe",
            vec![fx::listener("a", "from-primary")],
        ))
        .await;
    let mut ps = primary.next_stream().await;
    let again = ps.next_request().await;
    assert!(again.node.is_some());
    assert_eq!(again.resource_names, ["a"]);
    assert_eq!(
        again.version_info, "",
        "the primary is asked for its full state"
    );
    let ended = bounded(fs.requests.message()).await;
    assert!(
        !matches!(ended, Ok(Some(_))),
        "fallback stream closed: {ended:?}"
    );

    ps.send(fx::response(
        LDS,
        "p7",
        "n1",
        vec![fx::listener("a", "from-primary")],
    ))
    .await;
    assert_eq!(ps.next_request().await.version_info, "p7");
    let dump = client.config_dump();
    assert_eq!(dump.server_uri, primary_addr.to_string());
    assert_eq!(dump.resources.len(), 1);
    assert_eq!(dump.resources[0].status, ResourceStatus::Acked);
    assert_eq!(
        dump.resources[0].xds_config,
        Some(fx::listener("a", "from-primary"))
    );
    assert_eq!(
        client.connection_status().server_uri,
        primary_addr.to_string()
    );
}

#[tokio::test]
async fn no_fallback_while_everything_is_cached_but_a_new_name_triggers_it() {
    let mut primary = FakeServer::start().await;
    let mut fallback = FakeServer::start().await;
    let primary_addr = primary.addr;
    let client = client_with(primary_addr, fallback.addr);
    let mut w = client.watch(LDS, "a");
    let mut ps = primary.next_stream().await;
    ps.next_request().await;
    ps.send(fx::response(LDS, "v1", "n1", vec![fx::listener("a", "r")]))
        .await;
    assert!(matches!(next_event(&mut w).await, WatchEvent::Changed(_)));
    ps.next_request().await;
    drop(ps);
    primary.stop().await;

    // The primary refuses every connection; with `a` cached the client keeps retrying it.
    let refuser = TcpListener::bind(primary_addr).await.expect("rebind");
    match next_event(&mut w).await {
        WatchEvent::AmbientError(WatchError::Unreachable { .. }) => {}
        other => panic!("expected an ambient error, got {other:?}"),
    }
    let (attempts_tx, mut attempts) = tokio::sync::mpsc::unbounded_channel();
    let _refusing = AbortOnDrop(tokio::spawn(async move {
        while let Ok((socket, _)) = refuser.accept().await {
            drop(socket);
            let _ = attempts_tx.send(());
        }
    }));
    // Keep `a` watched and its watcher drained, as a resolver would.
    let _watching = AbortOnDrop(tokio::spawn(
        async move { while w.next().await.is_some() {} },
    ));
    for _ in 0..3 {
        bounded(attempts.recv())
            .await
            .expect("another attempt on the primary");
    }
    assert!(
        fallback.streams.try_recv().is_err(),
        "no fallback stream while every watched resource is cached"
    );
    let dump = client.config_dump();
    assert_eq!(dump.resources[0].status, ResourceStatus::Acked);

    // A watch of a resource that is not cached makes the fallback worth it.
    let mut wb = client.watch(LDS, "b");
    let mut fs = fallback.next_stream().await;
    let req = fs.next_request().await;
    assert_eq!(req.resource_names, ["a", "b"]);
    assert_eq!(req.version_info, "");
    fs.send(fx::response(
        LDS,
        "f1",
        "n1",
        vec![fx::listener("a", "r"), fx::listener("b", "r")],
    ))
    .await;
    loop {
        match next_event(&mut wb).await {
            WatchEvent::Changed(_) => break,
            WatchEvent::Error(WatchError::Unreachable { .. }) => continue,
            other => panic!("expected `b` from the fallback, got {other:?}"),
        }
    }
    assert_eq!(
        client.connection_status().server_uri,
        fallback.addr.to_string()
    );
}
