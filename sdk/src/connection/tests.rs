//! Pool and connection-task tests over real loopback sockets. Backoff is shortened so retries
//! happen within the test's bound; every wait is bounded.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use super::*;
use crate::balancer::Connectivity;

const BOUND: Duration = Duration::from_secs(10);

fn pool() -> ConnectionPool {
    let options = ConnectOptions {
        backoff: BackoffConfig {
            base: Duration::from_millis(20),
            max: Duration::from_millis(100),
            ..BackoffConfig::default()
        },
        min_connect_timeout: Duration::from_secs(2),
        seed: Some(7),
    };
    ConnectionPool::new(options, Handle::current())
}

async fn wait_for(conn: &EndpointConnection, state: Connectivity) {
    let mut rx = conn.subscribe();
    tokio::time::timeout(BOUND, rx.wait_for(|s| *s == state))
        .await
        .unwrap_or_else(|_| panic!("{:?} never became {state:?}", conn.address()))
        .expect("task alive");
}

#[tokio::test]
async fn connects_when_asked_and_is_shared_by_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pool = pool();
    let a = pool.get(addr);
    assert_eq!(a.state(), Connectivity::Idle);
    assert!(a.sender().is_none());
    a.connect();
    let (_peer, _) = tokio::time::timeout(BOUND, listener.accept())
        .await
        .unwrap()
        .unwrap();
    wait_for(&a, Connectivity::Ready).await;
    assert!(a.sender().is_some());

    let b = pool.get(addr);
    assert_eq!(
        b.state(),
        Connectivity::Ready,
        "the second user shares the connection"
    );
    assert_eq!(pool.len(), 1);
}

#[tokio::test]
async fn a_refused_endpoint_fails_then_retries_until_it_listens() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let pool = pool();
    let conn = pool.get(addr);
    conn.connect();
    wait_for(&conn, Connectivity::TransientFailure).await;

    let listener = TcpListener::bind(addr).await.unwrap();
    wait_for(&conn, Connectivity::Ready).await;
    drop(listener);
}

#[tokio::test]
async fn a_connection_the_peer_closes_goes_back_to_idle() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pool = pool();
    let conn = pool.get(addr);
    conn.connect();
    let (peer, _) = tokio::time::timeout(BOUND, listener.accept())
        .await
        .unwrap()
        .unwrap();
    wait_for(&conn, Connectivity::Ready).await;
    drop(peer);
    wait_for(&conn, Connectivity::Idle).await;
    assert!(conn.sender().is_none());

    conn.connect();
    let _again = tokio::time::timeout(BOUND, listener.accept())
        .await
        .unwrap()
        .unwrap();
    wait_for(&conn, Connectivity::Ready).await;
}

#[tokio::test]
async fn a_reported_broken_connection_is_dropped() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pool = pool();
    let conn = pool.get(addr);
    conn.connect();
    let (mut peer, _) = tokio::time::timeout(BOUND, listener.accept())
        .await
        .unwrap()
        .unwrap();
    wait_for(&conn, Connectivity::Ready).await;

    conn.report_broken();
    wait_for(&conn, Connectivity::Idle).await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(BOUND, peer.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the client closed its side");
}

#[tokio::test]
async fn dropping_the_last_handle_closes_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pool = pool();
    let conn = pool.get(addr);
    conn.connect();
    let (mut peer, _) = tokio::time::timeout(BOUND, listener.accept())
        .await
        .unwrap()
        .unwrap();
    wait_for(&conn, Connectivity::Ready).await;

    drop(conn);
    assert!(pool.is_empty());
    let mut buf = Vec::new();
    let read = tokio::time::timeout(BOUND, peer.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "the connection task stopped and closed the socket"
    );
}
