//! xDS fault injection on the client path (gRFC A33), end to end: the dev control plane serves
//! routes with `HTTPFault` configs, an SDK channel calls real greeter backends over loopback.
//!
//! A route matching the `x-fault` header carries the fault; the catch-all route after it has
//! none, so calls without the header show that other routes are untouched.

use std::time::Duration;

use anyhow::Result;
use meshwork_examples::xds_server::Mesh as MeshFile;
use meshwork_proto::helloworld::HelloRequest;
use meshwork_proto::helloworld::greeter_client::GreeterClient;
use meshwork_tests::backend::Backends;
use meshwork_tests::{mesh_for, start_control_plane};
use tokio::time::Instant;
use tonic::Code;
use tonic::metadata::MetadataValue;

const TARGET: &str = "xds:///greeter:50051";

/// A mesh whose first route (header `x-fault` present) has `fault`, then a catch-all route.
fn mesh(backends: &Backends, fault: &str) -> Result<MeshFile> {
    let endpoints: String = backends
        .addrs()
        .iter()
        .map(|a| format!("    - address: '{a}'\n"))
        .collect();
    let yaml = format!(
        "services:
- host: greeter
  port: 50051
  routes:
  - name: faulty
    match:
      headers:
      - {{ name: x-fault, present: true }}
    cluster: greeter
    fault:
{fault}
  - name: plain
    cluster: greeter
clusters:
- name: greeter
  localities:
  - locality: {{ zone: local }}
    endpoints:
{endpoints}"
    );
    Ok(MeshFile::from_yaml(&yaml)?)
}

fn request(faulty: bool, timeout: Option<Duration>) -> tonic::Request<HelloRequest> {
    let mut request = tonic::Request::new(HelloRequest {
        name: "fault-test".into(),
    });
    if faulty {
        request
            .metadata_mut()
            .insert("x-fault", MetadataValue::from_static("yes"));
    }
    if let Some(t) = timeout {
        request.set_timeout(t);
    }
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_abort_by_http_status_fails_every_matching_rpc_with_the_mapped_code() -> Result<()> {
    let backends = Backends::start(2).await?;
    let fault = "      abort: { http_status: 401, percent: 100 }";
    let cp = start_control_plane(mesh(&backends, fault)?).await?;
    let sdk = mesh_for(&cp, "faults-abort", 1)?;
    let channel = sdk.channel(TARGET).await?;
    let mut client = GreeterClient::new(channel.clone());

    for _ in 0..20 {
        let status = client
            .say_hello(request(true, None))
            .await
            .expect_err("the faulty route aborts every RPC");
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    let served_before = backends.total_served();
    assert_eq!(served_before, 0, "aborted RPCs never reach a backend");
    for _ in 0..20 {
        client.say_hello(request(false, None)).await?;
    }
    assert_eq!(backends.total_served(), 20, "the plain route is untouched");
    assert_eq!(channel.fault_injections().aborted, 20);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_delay_and_half_abort_each_hit_about_half_of_the_rpcs() -> Result<()> {
    let backends = Backends::start(2).await?;
    let fault =
        "      delay: { fixed: 2ms, percent: 50 }\n      abort: { grpc_status: 14, percent: 50 }";
    let cp = start_control_plane(mesh(&backends, fault)?).await?;
    let sdk = mesh_for(&cp, "faults-half", 42)?;
    let channel = sdk.channel(TARGET).await?;
    let mut client = GreeterClient::new(channel.clone());

    const CALLS: u64 = 200;
    let mut aborted = 0u64;
    for _ in 0..CALLS {
        match client.say_hello(request(true, None)).await {
            Ok(_) => {}
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                aborted += 1;
            }
        }
    }
    let injected = channel.fault_injections();
    assert_eq!(injected.aborted, aborted);
    let share = |n: u64| n as f64 / CALLS as f64;
    assert!(
        (0.3..=0.7).contains(&share(aborted)),
        "abort share {} outside 0.5 ± 0.2",
        share(aborted)
    );
    assert!(
        (0.3..=0.7).contains(&share(injected.delayed)),
        "delay share {} outside 0.5 ± 0.2",
        share(injected.delayed)
    );
    assert_eq!(backends.total_served(), CALLS - aborted);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_beyond_the_deadline_fails_deadline_exceeded_at_the_deadline() -> Result<()> {
    let backends = Backends::start(1).await?;
    let fault = "      delay: { fixed: 5s, percent: 100 }";
    let cp = start_control_plane(mesh(&backends, fault)?).await?;
    let sdk = mesh_for(&cp, "faults-deadline", 3)?;
    let mut client = GreeterClient::new(sdk.channel(TARGET).await?);
    // Warm up through the plain route so configuration and connection are in place.
    client.say_hello(request(false, None)).await?;

    let started = Instant::now();
    let status = client
        .say_hello(request(true, Some(Duration::from_millis(300))))
        .await
        .expect_err("the delay outlasts the deadline");
    let took = started.elapsed();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        took < Duration::from_secs(3),
        "failed after {took:?}, not at the 300 ms deadline"
    );
    assert_eq!(backends.total_served(), 1, "the delayed RPC was never sent");
    Ok(())
}
