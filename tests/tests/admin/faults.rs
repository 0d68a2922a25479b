//! Runtime fault rules through the admin endpoint: client side, server side, TTL and its cap.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_rule_applies_to_the_next_rpc_and_expires_at_its_ttl() -> Result<()> {
    let backends = Backends::start(2).await?;
    let cp = start_control_plane(backends.mesh().build()?).await?;
    let mesh = mesh_for(&cp, "admin-ttl", 5)?;
    let target = backends.mesh().target();
    let mut greeter = GreeterClient::new(mesh.channel(&target).await?);
    greeter.say_hello(hello()).await?;
    let (_admin, mut admin) = serve(&mesh).await?;

    let scope = pb::fault_scope::Scope::ClientTarget(target.clone());
    let set_at = Instant::now();
    let set = admin
        .set_fault(authed(
            rule(scope, Code::ResourceExhausted, Some(1500)),
            TOKEN,
        ))
        .await?
        .into_inner();
    let id = set.rule.context("SetFault returns the rule")?.id;
    let status = greeter.say_hello(hello()).await.expect_err("faulted");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let listed = admin
        .list_faults(pb::ListFaultsRequest {})
        .await?
        .into_inner();
    assert_eq!(listed.rules.len(), 1);
    assert_eq!(listed.rules[0].id, id);
    assert!(listed.rules[0].injected >= 1);

    eventually(WAIT, "the rule expiring", || {
        let mut g = greeter.clone();
        async move { g.say_hello(hello()).await.ok() }
    })
    .await?;
    let lived = set_at.elapsed();
    assert!(
        lived >= Duration::from_millis(1400),
        "expired after {lived:?}"
    );
    let listed = admin
        .list_faults(pb::ListFaultsRequest {})
        .await?
        .into_inner();
    assert!(listed.rules.is_empty(), "{listed:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_side_rule_makes_callers_see_the_fault() -> Result<()> {
    // A server process without a control plane: the Mesh gives it the server layer and admin.
    let server_mesh = Mesh::builder().service_name("greeter-server").build()?;
    let listener = tokio::net::TcpListener::bind(loopback()).await?;
    let addr = listener.local_addr()?;
    let router = tonic::transport::Server::builder()
        .layer(server_mesh.server_layer())
        .add_service(server_mesh.health().service())
        .add_service(GreeterBackend::new("s0").into_service());
    let server = tokio::spawn(
        router.serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let (_admin, mut admin) = serve(&server_mesh).await?;
    let mut caller = GreeterClient::connect(format!("http://{addr}")).await?;
    caller.say_hello(hello()).await?;

    let scope = pb::fault_scope::Scope::ServerMethod("helloworld.Greeter/*".into());
    let set = admin
        .set_fault(authed(rule(scope, Code::Unavailable, None), TOKEN))
        .await?
        .into_inner();
    let status = caller.say_hello(hello()).await.expect_err("faulted");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("runtime rule"), "{status:?}");

    let id = set.rule.context("rule")?.id;
    admin
        .clear_fault(authed(pb::ClearFaultRequest { id }, TOKEN))
        .await?;
    caller.say_hello(hello()).await?;
    let info = admin.get_info(pb::GetInfoRequest {}).await?.into_inner();
    assert_eq!(info.service_name, "greeter-server");
    assert!(info.xds_servers.is_empty());
    server.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_with_a_ttl_over_the_cap_is_refused_naming_the_field() -> Result<()> {
    let mesh = Mesh::builder().build()?;
    let (_admin, mut admin) = serve(&mesh).await?;
    let scope = || pb::fault_scope::Scope::ClientMethod("/helloworld.Greeter/SayHello".into());
    let two_days = 48 * 3600 * 1000;
    let refused = admin
        .set_fault(authed(
            rule(scope(), Code::Unavailable, Some(two_days)),
            TOKEN,
        ))
        .await
        .expect_err("a 48h ttl is over the 24h cap");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused
            .message()
            .starts_with("spec.ttl_ms: ttl 48h exceeds the maximum 24h"),
        "{refused:?}"
    );
    assert!(mesh.faults().list().is_empty(), "nothing was installed");
    let listed = admin
        .list_faults(pb::ListFaultsRequest {})
        .await?
        .into_inner();
    assert_eq!(listed.max_ttl_ms, 24 * 3600 * 1000, "the cap is listed");
    admin
        .set_fault(authed(
            rule(scope(), Code::Unavailable, Some(60_000)),
            TOKEN,
        ))
        .await?;
    assert_eq!(mesh.faults().list().len(), 1);
    Ok(())
}
