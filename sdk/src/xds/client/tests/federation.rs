//! Federation (gRFC A47) at the client level: `xdstp` names go to their authority's servers,
//! identical server lists share one stream, unknown authorities are watcher errors.

use super::*;
use crate::bootstrap::{Authority, XdsServer};

const FED_X: &str = "xdstp://fed/envoy.config.listener.v3.Listener/x?b=2&a=1";
const FED_X_CANONICAL: &str = "xdstp://fed/envoy.config.listener.v3.Listener/x?a=1&b=2";
const SAME_Y: &str = "xdstp://same/envoy.config.listener.v3.Listener/y";

#[tokio::test]
async fn xdstp_names_go_to_their_authority_and_identical_lists_share_a_stream() {
    let mut top = FakeServer::start().await;
    let mut fed = FakeServer::start().await;
    let b = fx::bootstrap(&top.addr.to_string(), &[])
        .with_authority(
            "fed",
            Authority::new("fed").with_xds_servers(vec![XdsServer::insecure(fed.addr.to_string())]),
        )
        .with_authority(
            "same",
            Authority::new("same")
                .with_xds_servers(vec![XdsServer::insecure(top.addr.to_string())]),
        );
    let client = XdsClient::with_options(&b, fast_options()).expect("client");

    let _wa = client.watch(LDS, "a");
    let mut ts = top.next_stream().await;
    assert_eq!(ts.next_request().await.resource_names, ["a"]);

    // The authority's own server gets the canonical name on its own stream.
    let mut wf = client.watch(LDS, FED_X);
    assert_eq!(wf.name(), FED_X);
    let mut fs = fed.next_stream().await;
    assert_eq!(fs.next_request().await.resource_names, [FED_X_CANONICAL]);
    // The server may write the context params in any order.
    fs.send(fx::response(
        LDS,
        "v1",
        "n1",
        vec![fx::listener(FED_X, "r")],
    ))
    .await;
    assert!(matches!(next_event(&mut wf).await, WatchEvent::Changed(_)));
    assert_eq!(fs.next_request().await.version_info, "v1");

    // An authority configured with the top-level servers rides the top-level stream.
    let _ws = client.watch(LDS, SAME_Y);
    assert_eq!(ts.next_request().await.resource_names, ["a", SAME_Y]);
    assert!(
        top.streams.try_recv().is_err(),
        "no second stream to the same server"
    );
    assert_eq!(client.connection_statuses().len(), 2);

    // An unknown authority is an error for its watcher, and nothing is requested.
    let mut wu = client.watch(LDS, "xdstp://nowhere/envoy.config.listener.v3.Listener/z");
    match next_event(&mut wu).await {
        WatchEvent::Error(WatchError::UnknownAuthority { authority, .. }) => {
            assert_eq!(authority, "nowhere");
        }
        other => panic!("expected an unknown-authority error, got {other:?}"),
    }
    drop(wu);

    let dump = client.config_dump();
    let names: Vec<_> = dump.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a", FED_X_CANONICAL, SAME_Y]);

    // Dropping the federated watcher unsubscribes on the authority's stream.
    drop(wf);
    assert!(fs.next_request().await.resource_names.is_empty());
}
