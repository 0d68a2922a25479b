//! Channel tests over real loopback sockets with real tonic greeter backends: static channels
//! here, xDS channels (fake control plane) in `tests/xds.rs`. Every wait is bounded.

use std::collections::HashMap;
use std::time::Duration;

use meshwork_proto::helloworld::HelloRequest;
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use tokio_stream::StreamExt;

use super::test_support::{Backend, STREAM_LEN, bounded, hello, warm_up};
use super::*;
use crate::connection::ConnectOptions;
use crate::xds::BackoffConfig;

mod xds;

fn fast_connect() -> ConnectOptions {
    ConnectOptions {
        backoff: BackoffConfig {
            base: Duration::from_millis(50),
            max: Duration::from_millis(200),
            ..BackoffConfig::default()
        },
        min_connect_timeout: Duration::from_secs(2),
        seed: Some(3),
    }
}

fn static_channel(backends: &[&Backend], lb: Lb) -> MeshChannel {
    MeshChannel::builder()
        .endpoints(backends.iter().map(|b| b.addr.to_string()))
        .load_balancing(lb)
        .connect_options(fast_connect())
        .options(ChannelOptions {
            seed: Some(11),
            ..ChannelOptions::default()
        })
        .build()
        .expect("static channel")
}

async fn tally(channel: &MeshChannel, calls: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for _ in 0..calls {
        let name = hello(channel).await.expect("call succeeds");
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn static_round_robin_spreads_calls_evenly_over_three_backends() {
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let channel = static_channel(&[&a, &b, &c], Lb::RoundRobin);
    warm_up(&channel, &["a", "b", "c"]).await;

    let counts = tally(&channel, 99).await;
    for name in ["a", "b", "c"] {
        let n = counts.get(name).copied().unwrap_or(0);
        assert!((32..=34).contains(&n), "{name} got {n} of 99: {counts:?}");
    }
}

#[tokio::test]
async fn unary_and_server_streaming_rpcs_work_through_a_generated_client() {
    let a = Backend::start("a").await;
    let channel = static_channel(&[&a], Lb::RoundRobin);
    let mut client = GreeterClient::new(channel);

    let reply = client
        .say_hello(HelloRequest {
            name: "mesh".into(),
        })
        .await
        .expect("unary call")
        .into_inner();
    assert_eq!(
        (reply.message.as_str(), reply.backend.as_str()),
        ("hello mesh", "a")
    );

    let mut stream = client
        .say_hello_stream(HelloRequest {
            name: "mesh".into(),
        })
        .await
        .expect("streaming call")
        .into_inner();
    let mut messages = Vec::new();
    while let Some(reply) = bounded(stream.next()).await {
        messages.push(reply.expect("stream item").message);
    }
    assert_eq!(messages.len(), STREAM_LEN);
    assert_eq!(messages[0], "hello mesh #0");
}

#[tokio::test]
async fn static_pick_first_sticks_to_one_backend() {
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let channel = static_channel(&[&a, &b, &c], Lb::PickFirst);
    let counts = tally(&channel, 30).await;
    assert_eq!(
        counts.get("a"),
        Some(&30),
        "every call on the first endpoint: {counts:?}"
    );
}

#[tokio::test]
async fn a_killed_backend_is_avoided_once_its_connection_fails() {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let channel = static_channel(&[&a, &b], Lb::RoundRobin);
    warm_up(&channel, &["a", "b"]).await;

    b.stop().await;
    // Calls in flight while the connection goes away may fail; within the bound every call
    // must land on the surviving backend.
    bounded(async {
        let mut in_a_row = 0;
        while in_a_row < 20 {
            match hello(&channel).await {
                Ok(name) if name == "a" => in_a_row += 1,
                _ => in_a_row = 0,
            }
        }
    })
    .await;
}

#[tokio::test]
async fn a_static_channel_with_no_reachable_endpoint_fails_within_its_queue_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let channel = MeshChannel::builder()
        .endpoints([addr.to_string()])
        .connect_options(fast_connect())
        .options(ChannelOptions {
            queue_timeout: Duration::from_millis(300),
            ..ChannelOptions::default()
        })
        .build()
        .unwrap();
    let status = bounded(hello(&channel)).await.expect_err("nothing listens");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("cluster `static`"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn an_invalid_static_address_is_named_in_the_error() {
    let error = MeshChannel::builder()
        .endpoints(["127.0.0.1:50051", "localhost:x"])
        .build()
        .expect_err("invalid address");
    assert!(error.to_string().contains("`localhost:x`"), "{error}");
    let error = MeshChannel::builder().build().expect_err("no endpoints");
    assert!(matches!(error, ChannelError::NoEndpoints), "{error}");
}

#[tokio::test]
async fn dropping_the_channel_releases_its_connections() {
    let a = Backend::start("a").await;
    let pool = ConnectionPool::new(fast_connect(), Handle::current());
    let channel = MeshChannel::builder()
        .endpoints([a.addr.to_string()])
        .connection_pool(pool.clone())
        .build()
        .unwrap();
    hello(&channel).await.expect("call");
    assert_eq!(pool.len(), 1);
    drop(channel);
    bounded(async {
        while !pool.is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await;
}
