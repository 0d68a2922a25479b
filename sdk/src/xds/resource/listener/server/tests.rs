use meshwork_proto::envoy::config::core::v3::{
    Address, CidrRange as PCidr, SocketAddress, TransportSocket, address, socket_address,
    transport_socket,
};
use meshwork_proto::envoy::config::listener::v3::{
    Filter, FilterChain as PChain, FilterChainMatch, ListenerFilter,
};
use meshwork_proto::envoy::config::route::v3::RouteConfiguration as PRc;
use meshwork_proto::envoy::extensions::filters::http::router::v3::Router;
use meshwork_proto::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter as PFilter, http_connection_manager::RouteSpecifier, http_filter,
};
use meshwork_proto::envoy::extensions::transport_sockets::tls::v3::{
    CertificateProviderPluginInstance, CertificateValidationContext, CommonTlsContext,
    DownstreamTlsContext, common_tls_context::ValidationContextType,
};
use meshwork_proto::envoy_types::util::pack_any;
use meshwork_proto::google::protobuf::{BoolValue, UInt32Value};

use super::*;

fn providers() -> BTreeSet<String> {
    ["id".to_string(), "ca".to_string()].into()
}

fn hcm_filter() -> Filter {
    let hcm = HttpConnectionManager {
        route_specifier: Some(RouteSpecifier::RouteConfig(PRc::default())),
        http_filters: vec![PFilter {
            name: "router".into(),
            config_type: Some(http_filter::ConfigType::TypedConfig(pack_any(
                Router::default(),
            ))),
            ..Default::default()
        }],
        ..Default::default()
    };
    Filter {
        name: "hcm".into(),
        config_type: Some(filter::ConfigType::TypedConfig(pack_any(hcm))),
    }
}

fn instance(name: &str) -> CertificateProviderPluginInstance {
    CertificateProviderPluginInstance {
        instance_name: name.into(),
        certificate_name: String::new(),
    }
}

fn tls(identity: Option<&str>, ca: Option<&str>, require: bool) -> TransportSocket {
    let ctx = DownstreamTlsContext {
        common_tls_context: Some(CommonTlsContext {
            tls_certificate_provider_instance: identity.map(instance),
            validation_context_type: ca.map(|ca| {
                ValidationContextType::ValidationContext(CertificateValidationContext {
                    ca_certificate_provider_instance: Some(instance(ca)),
                    ..Default::default()
                })
            }),
            ..Default::default()
        }),
        require_client_certificate: Some(BoolValue { value: require }),
        ..Default::default()
    };
    TransportSocket {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(pack_any(ctx))),
    }
}

fn chain(name: &str, m: Option<FilterChainMatch>, ts: Option<TransportSocket>) -> PChain {
    PChain {
        name: name.into(),
        filter_chain_match: m,
        filters: vec![hcm_filter()],
        transport_socket: ts,
        ..Default::default()
    }
}

fn listener(chains: Vec<PChain>, default: Option<PChain>) -> ProtoListener {
    ProtoListener {
        name: "grpc/server?xds.resource.listening_address=0.0.0.0:8080".into(),
        address: Some(Address {
            address: Some(address::Address::SocketAddress(SocketAddress {
                address: "0.0.0.0".into(),
                port_specifier: Some(socket_address::PortSpecifier::PortValue(8080)),
                ..Default::default()
            })),
        }),
        filter_chains: chains,
        default_filter_chain: default,
        ..Default::default()
    }
}

fn decode(l: &ProtoListener) -> Result<ServerListener> {
    ServerListener::decode(l, &providers())
}

fn conn(peer: &str) -> ConnectionInfo {
    ConnectionInfo {
        local: "10.0.0.1:8080".parse().unwrap(),
        peer: peer.parse().unwrap(),
    }
}

#[test]
fn mtls_default_chain_is_decoded() {
    let l = listener(
        vec![],
        Some(chain("d", None, Some(tls(Some("id"), Some("ca"), true)))),
    );
    let v = decode(&l).unwrap();
    assert_eq!(v.address, "0.0.0.0:8080".parse().unwrap());
    let tls = v.default_filter_chain.unwrap().tls.unwrap();
    assert_eq!(tls.identity.instance_name, "id");
    assert_eq!(tls.client_ca.unwrap().instance_name, "ca");
    assert!(tls.require_client_certificate);
}

#[test]
fn invalid_tls_is_rejected_naming_the_field() {
    let cases = [
        (
            tls(None, Some("ca"), false),
            "tls_certificate_provider_instance",
        ),
        (tls(Some("id"), None, true), "require_client_certificate"),
        (
            tls(Some("nope"), None, false),
            "`nope` is not in the bootstrap",
        ),
    ];
    for (ts, wanted) in cases {
        let err = decode(&listener(vec![chain("c", None, Some(ts))], None))
            .unwrap_err()
            .to_string();
        assert!(err.contains(wanted), "{err}");
        assert!(err.contains("filter_chains[0].transport_socket"), "{err}");
    }
}

#[test]
fn structural_errors_are_rejected() {
    let mut l = listener(vec![chain("c", None, None)], None);
    l.listener_filters = vec![ListenerFilter::default()];
    assert!(
        decode(&l)
            .unwrap_err()
            .to_string()
            .contains("listener_filters")
    );

    let l = listener(vec![chain("a", None, None), chain("b", None, None)], None);
    let err = decode(&l).unwrap_err().to_string();
    assert!(err.contains("filter_chains[1].filter_chain_match"), "{err}");

    let mut bare = chain("c", None, None);
    bare.filters.clear();
    let err = decode(&listener(vec![bare], None)).unwrap_err().to_string();
    assert!(err.contains("HttpConnectionManager"), "{err}");

    assert!(decode(&listener(vec![], None)).is_err());
}

#[test]
fn selection_prefers_specific_matches_and_falls_back_to_default() {
    let by_source = |name: &str, prefix: &str, len: u32| {
        chain(
            name,
            Some(FilterChainMatch {
                source_prefix_ranges: vec![PCidr {
                    address_prefix: prefix.into(),
                    prefix_len: Some(UInt32Value { value: len }),
                }],
                ..Default::default()
            }),
            None,
        )
    };
    let unmatchable = chain(
        "port",
        Some(FilterChainMatch {
            destination_port: Some(UInt32Value { value: 8080 }),
            source_type: 2,
            ..Default::default()
        }),
        None,
    );
    let l = listener(
        vec![
            by_source("wide", "192.168.0.0", 16),
            by_source("narrow", "192.168.1.0", 24),
            unmatchable,
        ],
        Some(chain("default", None, None)),
    );
    let v = decode(&l).unwrap();
    let pick = |peer: &str| v.select(conn(peer)).map(|c| c.name.clone());
    assert_eq!(pick("192.168.1.7:5000").as_deref(), Some("narrow"));
    assert_eq!(pick("192.168.2.7:5000").as_deref(), Some("wide"));
    assert_eq!(pick("[::ffff:192.168.1.7]:5000").as_deref(), Some("narrow"));
    assert_eq!(pick("172.16.0.1:5000").as_deref(), Some("default"));

    let no_default = listener(vec![by_source("narrow", "192.168.1.0", 24)], None);
    assert!(
        decode(&no_default)
            .unwrap()
            .select(conn("10.9.9.9:1"))
            .is_none()
    );
}

#[test]
fn source_type_distinguishes_local_and_external_peers() {
    let typed = |name: &str, t: i32| {
        chain(
            name,
            Some(FilterChainMatch {
                source_type: t,
                ..Default::default()
            }),
            None,
        )
    };
    let v = decode(&listener(
        vec![typed("local", 1), typed("external", 2)],
        None,
    ))
    .unwrap();
    assert_eq!(v.select(conn("127.0.0.1:9")).unwrap().name, "local");
    assert_eq!(v.select(conn("10.0.0.1:9")).unwrap().name, "local");
    assert_eq!(v.select(conn("10.0.0.2:9")).unwrap().name, "external");
}
