//! End to end over loopback: telemetry wired into the mesh. A tonic greeter server wrapped in
//! `mesh.server_layer()`, a static `MeshChannel` from the same mesh with a retry policy, and the
//! mesh's Prometheus scrape endpoint (`mesh.serve_metrics`). A scrape after a few RPCs must show
//! the A66 client attempt and call histograms with the channel's `grpc.target`, one
//! `attempt.started` per attempt (retries included), and the server's call metrics. The
//! exposition is checked with `promtool check metrics` when promtool is installed.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use meshwork::Mesh;
use meshwork::telemetry::Telemetry;
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use meshwork_proto::helloworld::greeter_server::{Greeter, GreeterServer};
use meshwork_proto::helloworld::{HelloReply, HelloRequest};
use meshwork_tests::promtool::sample;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Code, Request, Response, Status};

/// Greets; `nobody` is NOT_FOUND; `flaky` fails UNAVAILABLE on every odd call.
#[derive(Default)]
struct Greet {
    flaky: AtomicU32,
}

#[tonic::async_trait]
impl Greeter for Greet {
    async fn say_hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let name = req.into_inner().name;
        if name == "nobody" {
            return Err(Status::not_found("nobody is not here"));
        }
        if name == "flaky" && self.flaky.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
            return Err(Status::unavailable("flaky backend"));
        }
        Ok(Response::new(HelloReply {
            message: format!("hello {name}"),
            backend: "telemetry".into(),
        }))
    }

    type SayHelloStreamStream = tokio_stream::Empty<Result<HelloReply, Status>>;

    async fn say_hello_stream(
        &self,
        _req: Request<HelloRequest>,
    ) -> Result<Response<Self::SayHelloStreamStream>, Status> {
        Err(Status::unimplemented("not used here"))
    }
}

/// `GET path` over HTTP/1.1; returns (status line, headers, body).
async fn http_get(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<(String, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .context("scrape did not finish within 10 s")??;
    let raw = String::from_utf8(raw)?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .context("HTTP response without a header/body separator")?;
    Ok((head.to_owned(), body.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_channels_and_server_layer_show_up_on_the_scrape_endpoint() -> anyhow::Result<()> {
    let mesh = Mesh::builder()
        .service_name("telemetry-e2e")
        .telemetry(Telemetry::builder().build()?)
        .build()?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let server_addr = listener.local_addr()?;
    let server = tonic::transport::Server::builder()
        .layer(mesh.server_layer())
        .add_service(GreeterServer::new(Greet::default()))
        .serve_with_incoming(TcpListenerStream::new(listener));
    let server = tokio::spawn(server);

    let channel = mesh
        .static_channel()
        .endpoints([server_addr.to_string()])
        .retry(meshwork::xds::resource::route::RetryPolicy {
            retry_on: vec![Code::Unavailable],
            num_retries: 2,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
        })
        .build()?;
    let target = channel.target().to_owned();
    let mut client = GreeterClient::new(channel);
    for name in ["a", "b", "c"] {
        client.say_hello(HelloRequest { name: name.into() }).await?;
    }
    let refused = client.say_hello(HelloRequest {
        name: "nobody".into(),
    });
    ensure!(refused.await.is_err_and(|s| s.code() == Code::NotFound));
    // One call, two attempts: the first fails UNAVAILABLE and is retried.
    client
        .say_hello(HelloRequest {
            name: "flaky".into(),
        })
        .await?;

    let metrics = mesh.serve_metrics("127.0.0.1:0".parse()?).await?;
    let (head, text) = http_get(metrics.local_addr(), "/metrics").await?;
    ensure!(head.starts_with("HTTP/1.1 200"), "scrape answered {head}");
    ensure!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "scrape content type: {head}"
    );

    let method = "grpc_method=\"helloworld.Greeter/SayHello\"";
    let target_label = format!("grpc_target=\"{target}\"");
    let t = target_label.as_str();
    let buckets = text
        .lines()
        .filter(|l| l.starts_with("grpc_client_attempt_duration_seconds_bucket{") && l.contains(t))
        .count();
    ensure!(
        buckets > 40,
        "expected the A66 latency buckets of grpc.client.attempt.duration with {t}, found \
         {buckets} bucket lines in:\n{text}"
    );
    let ok_calls = sample(
        &text,
        "grpc_client_call_duration_seconds_count",
        &[method, t, "grpc_status=\"OK\""],
    );
    ensure!(ok_calls == Some(4.0), "OK calls: {ok_calls:?}\n{text}");
    let not_found = sample(
        &text,
        "grpc_client_call_duration_seconds_count",
        &[method, t, "grpc_status=\"NOT_FOUND\""],
    );
    ensure!(not_found == Some(1.0), "NOT_FOUND calls: {not_found:?}");
    // 5 calls, 6 attempts: the retried attempt is counted and recorded with its own status.
    let started = sample(&text, "grpc_client_attempt_started_total", &[method, t]);
    ensure!(
        started == Some(6.0),
        "attempts started: {started:?}\n{text}"
    );
    let unavailable = sample(
        &text,
        "grpc_client_attempt_duration_seconds_count",
        &[method, t, "grpc_status=\"UNAVAILABLE\""],
    );
    ensure!(
        unavailable == Some(1.0),
        "UNAVAILABLE attempts: {unavailable:?}"
    );

    // The server saw six calls through mesh.server_layer().
    let served = sample(&text, "grpc_server_call_started_total", &[method]);
    ensure!(
        served == Some(6.0),
        "server calls started: {served:?}\n{text}"
    );
    let served_ok = sample(
        &text,
        "grpc_server_call_duration_seconds_count",
        &[method, "grpc_status=\"OK\""],
    );
    ensure!(served_ok == Some(4.0), "server OK calls: {served_ok:?}");

    let (missing, _) = http_get(metrics.local_addr(), "/other").await?;
    ensure!(missing.starts_with("HTTP/1.1 404"), "other path: {missing}");
    meshwork_tests::promtool::check_metrics(&text)?;
    server.abort();
    Ok(())
}

#[tokio::test]
async fn the_scrape_endpoint_refuses_a_non_loopback_address() -> anyhow::Result<()> {
    let mesh = Mesh::builder()
        .telemetry(Telemetry::builder().build()?)
        .build()?;
    let refused = mesh.serve_metrics("0.0.0.0:0".parse()?).await;
    ensure!(
        refused.is_err_and(|e| e.to_string().contains("non-loopback")),
        "a non-loopback bind must be refused"
    );
    Ok(())
}

#[tokio::test]
async fn disabled_telemetry_serves_an_empty_scrape_and_rpcs_still_work() -> anyhow::Result<()> {
    let mesh = Mesh::builder().telemetry(Telemetry::disabled()).build()?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let server_addr = listener.local_addr()?;
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .layer(mesh.server_layer())
            .add_service(GreeterServer::new(Greet::default()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let channel = mesh
        .static_channel()
        .endpoints([server_addr.to_string()])
        .build()?;
    let reply = GreeterClient::new(channel)
        .say_hello(HelloRequest { name: "x".into() })
        .await?;
    ensure!(reply.into_inner().message == "hello x");
    let metrics = mesh.serve_metrics("127.0.0.1:0".parse()?).await?;
    let (head, text) = http_get(metrics.local_addr(), "/metrics").await?;
    ensure!(head.starts_with("HTTP/1.1 200"), "scrape answered {head}");
    ensure!(
        !text.contains("grpc_"),
        "disabled telemetry exported:\n{text}"
    );
    server.abort();
    Ok(())
}
