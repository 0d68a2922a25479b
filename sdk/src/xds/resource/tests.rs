use meshwork_proto::envoy::config::cluster::v3::Cluster as PCluster;
use meshwork_proto::envoy::config::endpoint::v3::ClusterLoadAssignment as PCla;
use meshwork_proto::envoy::config::listener::v3::Listener as PListener;
use meshwork_proto::envoy::config::route::v3::RouteConfiguration as PRc;
use meshwork_proto::envoy::service::discovery::v3::Resource as PWrapper;
use meshwork_proto::envoy_types::util::pack_any;

use super::*;

#[test]
fn decodes_each_kind_and_unwraps_resource_wrappers() {
    let rc = pack_any(PRc { name: "r1".into(), ..Default::default() });
    let (name, res) = decode(ResourceKind::RouteConfiguration, &rc, &DecodeContext::default()).unwrap();
    assert_eq!((name.as_str(), res.kind()), ("r1", ResourceKind::RouteConfiguration));
    let wrapped = pack_any(PWrapper { name: "e1".into(), resource: Some(pack_any(PCla { cluster_name: "e1".into(), ..Default::default() })), ..Default::default() });
    let (name, res) = decode(ResourceKind::ClusterLoadAssignment, &wrapped, &DecodeContext::default()).unwrap();
    assert_eq!(name, "e1");
    assert!(matches!(res, Resource::ClusterLoadAssignment(c) if c.priorities.is_empty()));
}

#[test]
fn errors_carry_the_resource_name_when_readable() {
    let bad = pack_any(PListener { name: "greeter:50051".into(), ..Default::default() });
    let e = decode(ResourceKind::Listener, &bad, &DecodeContext::default()).unwrap_err();
    assert_eq!((e.kind, e.name.as_deref()), (ResourceKind::Listener, Some("greeter:50051")));
    assert!(e.to_string().starts_with("LDS resource `greeter:50051`: api_listener:"), "{e}");

    let e = decode(ResourceKind::Cluster, &pack_any(PCluster { name: "c1".into(), ..Default::default() }), &DecodeContext::default()).unwrap_err();
    assert_eq!(e.name.as_deref(), Some("c1"));

    let garbage = Any { type_url: type_url::CLUSTER.into(), value: vec![0xff, 0xff, 0xff] };
    let e = decode(ResourceKind::Cluster, &garbage, &DecodeContext::default()).unwrap_err();
    assert_eq!(e.name, None);
    assert!(e.message.contains("cannot decode"), "{e}");

    let e = decode(ResourceKind::Cluster, &pack_any(PRc::default()), &DecodeContext::default()).unwrap_err();
    assert!(e.message.contains("RouteConfiguration") && e.message.contains("expected"), "{e}");
}

#[test]
fn unknown_fields_on_the_wire_are_ignored() {
    let mut any = pack_any(PCla { cluster_name: "e1".into(), ..Default::default() });
    // Field 999, varint 1: a field this client's protos do not know.
    any.value.extend_from_slice(&[0xb8, 0x3e, 0x01]);
    assert!(decode(ResourceKind::ClusterLoadAssignment, &any, &DecodeContext::default()).is_ok());
}
