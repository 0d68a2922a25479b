//! Tests of target → Listener name (gRFC A47): default and custom templates, authorities,
//! percent-encoding, and every malformed target.

use super::*;
use crate::bootstrap::{Authority, Node};

fn top() -> XdsServer {
    XdsServer::insecure("top:1")
}

fn plain() -> Bootstrap {
    Bootstrap::new(top(), Node::new("n"))
}

/// Federation: `own.example` has its own server, `shared.example` uses the top-level one.
fn federated() -> Bootstrap {
    plain()
        .with_authority(
            "own.example",
            Authority::new("own.example").with_xds_servers(vec![XdsServer::insecure("own:1")]),
        )
        .with_authority(
            "shared.example",
            Authority {
                client_listener_resource_name_template: "xdstp://shared.example/L/grpc/%s?p=1"
                    .into(),
                xds_servers: Vec::new(),
            },
        )
}

#[test]
fn without_authority_the_default_template_gives_host_port() {
    for target in [
        "xds:///greeter:50051",
        "xds:greeter:50051",
        "xds:/greeter:50051",
        "XDS:///greeter:50051",
    ] {
        let t = plain().listener_for_target(target).unwrap();
        assert_eq!(t.listener_name, "greeter:50051", "{target}");
        assert_eq!(t.data_plane_authority, "greeter:50051");
        assert_eq!(t.authority, None);
        assert_eq!(t.xds_servers, [top()]);
    }
}

#[test]
fn an_old_style_template_replaces_every_token_without_encoding() {
    let mut b = plain();
    b.client_default_listener_resource_name_template = "grpc/client/%s?alias=%s".into();
    let t = b.listener_for_target("xds:///my%20svc:80").unwrap();
    assert_eq!(t.listener_name, "grpc/client/my svc:80?alias=my svc:80");
    assert_eq!(t.data_plane_authority, "my svc:80");
}

#[test]
fn an_xdstp_default_template_encodes_and_selects_its_authority() {
    let mut b = federated();
    b.client_default_listener_resource_name_template =
        "xdstp://own.example/envoy.config.listener.v3.Listener/%s".into();
    let t = b.listener_for_target("xds:///ns/my%20svc:80").unwrap();
    assert_eq!(
        t.listener_name,
        "xdstp://own.example/envoy.config.listener.v3.Listener/ns/my%20svc:80"
    );
    assert_eq!(
        t.data_plane_authority, "my svc:80",
        "last path segment (A47)"
    );
    assert_eq!(t.authority.as_deref(), Some("own.example"));
    assert_eq!(t.xds_servers, [XdsServer::insecure("own:1")]);
}

#[test]
fn an_xdstp_default_template_with_an_unknown_authority_is_an_error() {
    let mut b = federated();
    b.client_default_listener_resource_name_template = "xdstp://nowhere.example/L/%s".into();
    let err = b.listener_for_target("xds:///greeter:50051").unwrap_err();
    assert!(
        matches!(&err, TargetError::UnknownAuthority { authority, from_template: true, .. } if authority == "nowhere.example")
    );
    let msg = err.to_string();
    assert!(
        msg.contains("`nowhere.example` (from the listener name template)"),
        "{msg}"
    );
    assert!(
        msg.contains("[\"own.example\", \"shared.example\"]"),
        "{msg}"
    );
}

#[test]
fn an_xdstp_name_without_authority_uses_the_empty_authority() {
    let mut b = plain().with_authority("", Authority::new(""));
    b.client_default_listener_resource_name_template =
        "xdstp:///envoy.config.listener.v3.Listener/%s".into();
    let t = b.listener_for_target("xds:///greeter:50051").unwrap();
    assert_eq!(t.authority.as_deref(), Some(""));
    assert_eq!(
        t.listener_name,
        "xdstp:///envoy.config.listener.v3.Listener/greeter:50051"
    );
}

#[test]
fn a_target_authority_uses_that_authoritys_template_and_servers() {
    let b = federated();
    let own = b
        .listener_for_target("xds://own.example/greeter:50051")
        .unwrap();
    assert_eq!(
        own.listener_name,
        "xdstp://own.example/envoy.config.listener.v3.Listener/greeter:50051"
    );
    assert_eq!(own.xds_servers, [XdsServer::insecure("own:1")]);
    let shared = b
        .listener_for_target("xds://shared.example/greeter:50051")
        .unwrap();
    assert_eq!(
        shared.listener_name,
        "xdstp://shared.example/L/grpc/greeter:50051?p=1"
    );
    assert_eq!(shared.authority.as_deref(), Some("shared.example"));
    assert_eq!(
        shared.xds_servers,
        [top()],
        "no servers of its own: the top-level ones"
    );
    assert_eq!(shared.data_plane_authority, "greeter:50051");
}

#[test]
fn a_target_authority_ignores_the_default_template() {
    let mut b = federated();
    b.client_default_listener_resource_name_template = "ignored/%s".into();
    let t = b
        .listener_for_target("xds://own.example/greeter:50051")
        .unwrap();
    assert!(
        t.listener_name.starts_with("xdstp://own.example/"),
        "{}",
        t.listener_name
    );
}

#[test]
fn an_unknown_target_authority_is_an_error_listing_the_known_ones() {
    let err = plain()
        .listener_for_target("xds://mesh.example/greeter:50051")
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("needs xDS authority `mesh.example` (named in the target)"),
        "{msg}"
    );
    assert!(msg.contains("(known: none)"), "{msg}");
    assert!(
        msg.contains("add an `authorities` entry named `mesh.example`"),
        "{msg}"
    );
}

#[test]
fn percent_encoding_keeps_rfc3986_path_characters() {
    let kept = "AZaz09-._~!$&'()*+,;=:@/";
    assert_eq!(percent_encode(kept), kept);
    assert_eq!(
        percent_encode("a b%c?d#e[f]g\"é"),
        "a%20b%25c%3Fd%23e%5Bf%5Dg%22%C3%A9"
    );
}

#[test]
fn targets_with_an_authority_encode_the_replacement() {
    let t = federated()
        .listener_for_target("xds://own.example/a%5Bb%5D/c%C3%A9:1")
        .unwrap();
    assert_eq!(
        t.listener_name,
        "xdstp://own.example/envoy.config.listener.v3.Listener/a%5Bb%5D/c%C3%A9:1"
    );
    assert_eq!(t.data_plane_authority, "cé:1");
}

#[test]
fn non_xds_schemes_are_errors() {
    for (target, found) in [("dns:///greeter:50051", "`dns:`"), ("greeter", "no scheme")] {
        let err = plain().listener_for_target(target).unwrap_err();
        assert_eq!(
            err,
            TargetError::NotXds {
                target: target.into(),
                found: found.into()
            }
        );
        assert!(
            err.to_string().contains("expected the scheme `xds:`"),
            "{err}"
        );
    }
}

#[test]
fn targets_without_a_service_are_errors() {
    for target in [
        "xds:",
        "xds:///",
        "xds://own.example",
        "xds://own.example/",
        "xds:///greeter/",
    ] {
        let err = federated().listener_for_target(target).unwrap_err();
        assert_eq!(
            err,
            TargetError::NoService {
                target: target.into()
            },
            "{target}"
        );
    }
}

#[test]
fn queries_fragments_and_bad_escapes_are_errors() {
    for target in ["xds:///greeter:1?x=1", "xds:///greeter:1#f"] {
        assert_eq!(
            plain().listener_for_target(target),
            Err(TargetError::QueryOrFragment {
                target: target.into()
            })
        );
    }
    for target in [
        "xds:///a%zz:1",
        "xds:///a%4",
        "xds:///a%+f:1",
        "xds:///a%C3:1",
    ] {
        let err = plain().listener_for_target(target).unwrap_err();
        assert_eq!(
            err,
            TargetError::BadEscape {
                target: target.into()
            },
            "{target}"
        );
        assert!(err.to_string().contains("write a literal `%` as `%25`"));
    }
}

#[test]
fn servers_use_the_server_template() {
    let mut b = federated();
    assert!(matches!(
        b.listener_for_server("0.0.0.0:8080"),
        Err(TargetError::NoServerTemplate { .. })
    ));
    b.server_listener_resource_name_template = Some("xds.istio.io/grpc/lds/inbound/%s".into());
    let t = b.listener_for_server("[::]:8080").unwrap();
    assert_eq!(t.listener_name, "xds.istio.io/grpc/lds/inbound/[::]:8080");
    assert_eq!((t.authority, t.xds_servers), (None, vec![top()]));
    b.server_listener_resource_name_template =
        Some("xdstp://own.example/envoy.config.listener.v3.Listener/grpc/server/%s".into());
    let t = b.listener_for_server("[::]:8080").unwrap();
    assert_eq!(
        t.listener_name,
        "xdstp://own.example/envoy.config.listener.v3.Listener/grpc/server/%5B::%5D:8080"
    );
    assert_eq!(t.xds_servers, [XdsServer::insecure("own:1")]);
}
