//! `xds-interop-server`'s `TestService` over a real loopback socket: the streaming methods and the
//! status echo of gRPC's interop test descriptions (`server_streaming`, `client_streaming`,
//! `ping_pong`, `empty_stream`, `status_code_and_message`), run in-process with
//! `meshwork_examples::interop::server::run`.

#[path = "interop_conformance/harness.rs"]
mod harness;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use meshwork_examples::interop::server::{ServerArgs, run};
use meshwork_proto::grpc_testing::test_service_client::TestServiceClient;
use meshwork_proto::grpc_testing::{
    EchoStatus, Empty, Payload, ResponseParameters, SimpleRequest, StreamingInputCallRequest,
    StreamingOutputCallRequest,
};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tonic::Code;
use tonic::transport::Channel;

struct Running {
    client: TestServiceClient<Channel>,
    _stop: oneshot::Sender<()>,
}

async fn start() -> Result<Running> {
    let port = harness::free_port()?;
    let args = ServerArgs {
        port,
        maintenance_port: port,
        server_id: "s1".into(),
        secure_mode: false,
        host_name_override: Some("backend-a".into()),
        address_type: None,
        enable_csm_observability: None,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(run(args, async move {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(10);
    let uri = format!("http://127.0.0.1:{port}");
    let channel = loop {
        match Channel::from_shared(uri.clone())?.connect().await {
            Ok(channel) => break channel,
            Err(e) if Instant::now() >= deadline => {
                return Err(e).context("the interop server did not start within 10 s");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    Ok(Running {
        client: TestServiceClient::new(channel),
        _stop: stop,
    })
}

fn output_request(sizes: &[i32]) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_parameters: sizes
            .iter()
            .map(|&size| ResponseParameters {
                size,
                ..ResponseParameters::default()
            })
            .collect(),
        ..StreamingOutputCallRequest::default()
    }
}

fn payload(bytes: usize) -> Option<Payload> {
    Some(Payload {
        r#type: 0,
        body: vec![0; bytes],
    })
}

#[tokio::test]
async fn server_streaming_sends_the_requested_sizes_with_the_hostname_header() -> Result<()> {
    let mut s = start().await?;
    let response = s
        .client
        .streaming_output_call(output_request(&[31415, 9, 2653, 58979]))
        .await?;
    let hostname = response.metadata().get("hostname").cloned();
    ensure!(
        hostname.as_ref().and_then(|v| v.to_str().ok()) == Some("backend-a"),
        "hostname header: {hostname:?}"
    );
    let mut stream = response.into_inner();
    let mut sizes = Vec::new();
    while let Some(message) = stream.message().await? {
        sizes.push(message.payload.map_or(0, |p| p.body.len()));
    }
    ensure!(sizes == [31415, 9, 2653, 58979], "sizes: {sizes:?}");
    Ok(())
}

#[tokio::test]
async fn client_streaming_sums_the_payloads() -> Result<()> {
    let mut s = start().await?;
    let requests = [27182, 8, 1828, 45904].map(|n| StreamingInputCallRequest {
        payload: payload(n),
        ..StreamingInputCallRequest::default()
    });
    let response = s
        .client
        .streaming_input_call(tokio_stream::iter(requests))
        .await?;
    ensure!(response.get_ref().aggregated_payload_size == 74922);
    Ok(())
}

#[tokio::test]
async fn ping_pong_answers_each_request_before_the_next_is_sent() -> Result<()> {
    let mut s = start().await?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut responses = s
        .client
        .full_duplex_call(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    for size in [31415, 9, 2653, 58979] {
        tx.send(output_request(&[size])).await?;
        let got = tokio::time::timeout(Duration::from_secs(10), responses.message())
            .await
            .context("no answer within 10 s")??
            .context("stream ended early")?;
        ensure!(got.payload.map_or(0, |p| p.body.len()) == size as usize);
    }
    drop(tx);
    ensure!(responses.message().await?.is_none(), "extra response");
    Ok(())
}

#[tokio::test]
async fn half_duplex_answers_after_the_client_half_closes_and_an_empty_stream_is_empty()
-> Result<()> {
    let mut s = start().await?;
    let mut responses = s
        .client
        .half_duplex_call(tokio_stream::iter([
            output_request(&[5]),
            output_request(&[7, 11]),
        ]))
        .await?
        .into_inner();
    let mut sizes = Vec::new();
    while let Some(m) = responses.message().await? {
        sizes.push(m.payload.map_or(0, |p| p.body.len()));
    }
    ensure!(sizes == [5, 7, 11], "sizes: {sizes:?}");
    let mut empty = s
        .client
        .full_duplex_call(tokio_stream::empty())
        .await?
        .into_inner();
    ensure!(empty.message().await?.is_none());
    Ok(())
}

#[tokio::test]
async fn requested_status_is_echoed_on_unary_and_full_duplex_and_unimplemented_says_so()
-> Result<()> {
    let mut s = start().await?;
    let status = EchoStatus {
        code: 2,
        message: "test status message".into(),
    };
    let unary = s
        .client
        .unary_call(SimpleRequest {
            response_status: Some(status.clone()),
            ..SimpleRequest::default()
        })
        .await
        .err()
        .context("UnaryCall with response_status 2 succeeded")?;
    ensure!(unary.code() == Code::Unknown && unary.message() == "test status message");
    let mut duplex = s
        .client
        .full_duplex_call(tokio_stream::iter([StreamingOutputCallRequest {
            response_status: Some(status),
            ..output_request(&[1])
        }]))
        .await?
        .into_inner();
    ensure!(duplex.message().await?.is_some(), "the payload comes first");
    let end = duplex.message().await.err().context("no error status")?;
    ensure!(end.code() == Code::Unknown && end.message() == "test status message");
    let unimplemented = s.client.unimplemented_call(Empty {}).await.err();
    ensure!(unimplemented.map(|e| e.code()) == Some(Code::Unimplemented));
    Ok(())
}

/// `--secure_mode true` serves `TestService` through the xDS-enabled server, so health must be
/// on a separate plaintext port (grpc-go's rule); equal ports are refused, saying so.
#[tokio::test]
async fn secure_mode_needs_a_separate_maintenance_port() -> Result<()> {
    let args = ServerArgs {
        port: 1,
        maintenance_port: 1,
        server_id: "s1".into(),
        secure_mode: true,
        host_name_override: None,
        address_type: None,
        enable_csm_observability: None,
    };
    let err = run(args, std::future::pending())
        .await
        .err()
        .context("secure mode with equal ports started")?;
    ensure!(
        err.to_string()
            .contains("--maintenance_port different from --port"),
        "{err}"
    );
    Ok(())
}
