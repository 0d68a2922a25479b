use meshwork_proto::envoy::config::cluster::v3::{Cluster, cluster};
use meshwork_proto::envoy::config::core::v3::{address, config_source::ConfigSourceSpecifier};
use meshwork_proto::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, lb_endpoint::HostIdentifier,
};
use meshwork_proto::envoy::config::listener::v3::Listener;
use meshwork_proto::envoy::config::route::v3::{
    RouteConfiguration, header_matcher::HeaderMatchSpecifier, route::Action,
    route_action::ClusterSpecifier,
};
use meshwork_proto::envoy::extensions::filters::http::fault::v3::HttpFault;
use meshwork_proto::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier,
};
use meshwork_proto::google::protobuf::Any;
use meshwork_proto::type_url;
use prost::Message;

use super::cluster::PEAK_EWMA_TYPE_URL;
use super::*;
use meshwork_proto::typed_struct::TypedStruct;

fn decode<M: Message + Default>(any: &Any) -> M {
    M::decode(any.value.as_slice()).unwrap()
}

fn resources(yaml: &str) -> ResourceMap {
    translate(&Mesh::from_yaml(yaml).unwrap()).unwrap()
}

const FULL: &str = r#"
services:
  - host: greeter
    port: 50051
    routes:
      - match:
          path: /helloworld.Greeter/SayHello
          headers: [{ name: x-canary, exact: "yes" }, { name: x-n, range: { start: 1, end: 5 }, invert: true }]
          runtime_fraction: 25
        weighted_clusters: [{ name: blue, weight: 100 }, { name: green, weight: 0 }]
        timeout: { max_stream_duration: 3s, grpc_timeout_header_max: 2s }
        retry: { retry_on: [unavailable], num_retries: 3, backoff: { base_interval: 10ms } }
        fault: { abort: { grpc_status: 14, percent: 50 }, delay: { fixed: 1s, percent: 12.5 } }
        hash_policy: [{ header: x-user }, { channel_id: true, terminal: true }]
      - cluster: blue
clusters:
  - name: blue
    lb_policy: peak_ewma
    peak_ewma: { default_rtt: 30ms }
    max_requests: 10
    localities:
      - locality: { region: r, zone: z1 }
        endpoints: [{ address: "127.0.0.1:1" }, { address: "127.0.0.1:2", weight: 3, health: draining }]
      - locality: { region: r, zone: z2 }
        priority: 1
        endpoints: [{ address: "[::1]:3" }]
  - name: green
    lb_policy: ring_hash
    ring_hash: { minimum_ring_size: 64 }
    localities: []
"#;

#[test]
fn listener_is_an_api_listener_with_rds_over_ads_and_router_last() {
    let res = resources(FULL);
    let listener: Listener = decode(&res[type_url::LISTENER]["greeter:50051"]);
    let hcm_any = listener.api_listener.unwrap().api_listener.unwrap();
    assert_eq!(hcm_any.type_url, type_url::HTTP_CONNECTION_MANAGER);
    let hcm: HttpConnectionManager = decode(&hcm_any);
    let Some(RouteSpecifier::Rds(rds)) = hcm.route_specifier else {
        panic!("expected rds")
    };
    assert_eq!(rds.route_config_name, "greeter:50051");
    assert!(matches!(
        rds.config_source.unwrap().config_source_specifier,
        Some(ConfigSourceSpecifier::Ads(_))
    ));
    let names: Vec<_> = hcm.http_filters.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, [FAULT_FILTER_NAME, ROUTER_FILTER_NAME]);
}

#[test]
fn no_fault_filter_without_faults() {
    let res = resources("services: [{host: a, port: 1, cluster: c}]\nclusters: [{name: c}]");
    let listener: Listener = decode(&res[type_url::LISTENER]["a:1"]);
    let hcm: HttpConnectionManager = decode(&listener.api_listener.unwrap().api_listener.unwrap());
    assert_eq!(hcm.http_filters.len(), 1);
    assert_eq!(hcm.http_filters[0].name, ROUTER_FILTER_NAME);
}

#[test]
fn route_configuration_carries_matchers_and_policies() {
    let res = resources(FULL);
    let rc: RouteConfiguration = decode(&res[type_url::ROUTE_CONFIGURATION]["greeter:50051"]);
    let vh = &rc.virtual_hosts[0];
    assert_eq!(vh.domains, ["greeter", "greeter:50051"]);
    assert_eq!(vh.routes.len(), 2);
    let r = &vh.routes[0];
    let m = r.r#match.as_ref().unwrap();
    assert_eq!(m.headers.len(), 2);
    assert!(matches!(
        m.headers[0].header_match_specifier,
        Some(HeaderMatchSpecifier::StringMatch(_))
    ));
    assert!(m.headers[1].invert_match);
    assert_eq!(
        m.runtime_fraction
            .as_ref()
            .unwrap()
            .default_value
            .unwrap()
            .numerator,
        250_000
    );
    let Some(Action::Route(action)) = &r.action else {
        panic!("expected a route action")
    };
    let Some(ClusterSpecifier::WeightedClusters(wc)) = &action.cluster_specifier else {
        panic!()
    };
    let weights: Vec<_> = wc
        .clusters
        .iter()
        .map(|c| (c.name.as_str(), c.weight.unwrap().value))
        .collect();
    assert_eq!(weights, [("blue", 100), ("green", 0)]);
    let msd = action.max_stream_duration.unwrap();
    assert_eq!(msd.grpc_timeout_header_max.unwrap().seconds, 2);
    let retry = action.retry_policy.as_ref().unwrap();
    assert_eq!(
        (retry.retry_on.as_str(), retry.num_retries.unwrap().value),
        ("unavailable", 3)
    );
    assert_eq!(
        retry.retry_back_off.unwrap().base_interval.unwrap().nanos,
        10_000_000
    );
    assert_eq!(action.hash_policy.len(), 2);
    let fault: HttpFault = decode(&r.typed_per_filter_config[FAULT_FILTER_NAME]);
    assert_eq!(fault.delay.unwrap().percentage.unwrap().numerator, 125_000);
    assert!(fault.abort.is_some());
}

#[test]
fn cluster_is_eds_over_ads_with_custom_peak_ewma_and_fallback() {
    let res = resources(FULL);
    let c: Cluster = decode(&res[type_url::CLUSTER]["blue"]);
    assert_eq!(
        c.cluster_discovery_type,
        Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Eds as i32
        ))
    );
    let eds = c.eds_cluster_config.unwrap();
    assert_eq!(eds.service_name, "blue");
    assert!(matches!(
        eds.eds_config.unwrap().config_source_specifier,
        Some(ConfigSourceSpecifier::Ads(_))
    ));
    assert_eq!(
        c.circuit_breakers.unwrap().thresholds[0]
            .max_requests
            .unwrap()
            .value,
        10
    );
    let policies = c.load_balancing_policy.unwrap().policies;
    let first = policies[0]
        .typed_extension_config
        .clone()
        .unwrap()
        .typed_config
        .unwrap();
    assert_eq!(
        first.type_url,
        "type.googleapis.com/xds.type.v3.TypedStruct"
    );
    let ts: TypedStruct = decode(&first);
    assert_eq!(ts.type_url, PEAK_EWMA_TYPE_URL);
    assert!(ts.value.unwrap().fields.contains_key("default_rtt"));
    let fallback = policies[1]
        .typed_extension_config
        .clone()
        .unwrap()
        .typed_config
        .unwrap();
    assert!(
        fallback.type_url.ends_with("round_robin.v3.RoundRobin"),
        "{}",
        fallback.type_url
    );

    let green: Cluster = decode(&res[type_url::CLUSTER]["green"]);
    assert_eq!(green.lb_policy, cluster::LbPolicy::RingHash as i32);
}

#[test]
fn load_assignment_has_weighted_localities_priorities_and_health() {
    let res = resources(FULL);
    let cla: ClusterLoadAssignment = decode(&res[type_url::CLUSTER_LOAD_ASSIGNMENT]["blue"]);
    assert_eq!(cla.endpoints.len(), 2);
    let first = &cla.endpoints[0];
    assert_eq!(
        first.load_balancing_weight.unwrap().value,
        1,
        "gRPC skips unweighted localities"
    );
    assert_eq!(first.locality.as_ref().unwrap().zone, "z1");
    assert_eq!(
        first.lb_endpoints[1].load_balancing_weight.unwrap().value,
        3
    );
    assert_eq!(first.lb_endpoints[1].health_status, 3, "DRAINING");
    assert_eq!(cla.endpoints[1].priority, 1);
    let Some(HostIdentifier::Endpoint(ep)) = &cla.endpoints[1].lb_endpoints[0].host_identifier
    else {
        panic!()
    };
    let Some(address::Address::SocketAddress(sa)) = &ep.address.as_ref().unwrap().address else {
        panic!()
    };
    assert_eq!(sa.address, "::1");
}

#[test]
fn istio_naming_renames_route_configs_and_clusters() {
    let yaml = "naming: istio\nservices: [{host: echo, port: 7070, cluster: echo}]\nclusters: [{name: echo, port: 7070}]";
    let res = resources(yaml);
    assert!(res[type_url::ROUTE_CONFIGURATION].contains_key("outbound|7070||echo"));
    assert!(res[type_url::CLUSTER].contains_key("outbound|7070||echo"));
    assert!(res[type_url::CLUSTER_LOAD_ASSIGNMENT].contains_key("outbound|7070||echo"));
    let rc: RouteConfiguration = decode(&res[type_url::ROUTE_CONFIGURATION]["outbound|7070||echo"]);
    let Some(Action::Route(a)) = &rc.virtual_hosts[0].routes[0].action else {
        panic!()
    };
    assert_eq!(
        a.cluster_specifier,
        Some(ClusterSpecifier::Cluster("outbound|7070||echo".into()))
    );
}

#[test]
fn shipped_mesh_files_translate() {
    for file in ["demo.yaml", "greeter.yaml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("mesh")
            .join(file);
        let mesh = Mesh::load(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let res = translate(&mesh).unwrap();
        assert!(
            res[type_url::LISTENER].contains_key("greeter:50051"),
            "{file}"
        );
    }
}

#[test]
fn a_dns_cluster_is_logical_dns_with_its_name_inline_and_no_eds() {
    let res = resources(
        "services: [{host: a, port: 1, cluster: c}]\nclusters: [{name: c, dns: 'db.internal:5432'}]",
    );
    let c: Cluster = decode(&res[type_url::CLUSTER]["c"]);
    assert_eq!(
        c.cluster_discovery_type,
        Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::LogicalDns as i32
        ))
    );
    assert!(c.eds_cluster_config.is_none());
    let la = c.load_assignment.unwrap();
    let Some(address::Address::SocketAddress(sa)) = la.endpoints[0].lb_endpoints[0]
        .host_identifier
        .as_ref()
        .and_then(|h| match h {
            meshwork_proto::envoy::config::endpoint::v3::lb_endpoint::HostIdentifier::Endpoint(
                e,
            ) => e.address.clone(),
            _ => None,
        })
        .and_then(|a| a.address)
    else {
        panic!("no socket address");
    };
    assert_eq!(sa.address, "db.internal");
    assert!(res[type_url::CLUSTER_LOAD_ASSIGNMENT].is_empty());
}

#[test]
fn cluster_tls_is_an_upstream_tls_context_the_sdk_accepts() {
    let res = resources(
        r#"
services: [{ host: greeter, port: 50051, cluster: greeter }]
clusters:
  - name: greeter
    tls: { ca_instance: roots, identity_instance: me, san: ["spiffe://cluster.local/ns/default/sa/greeter"], sni: greeter.local }
    localities: [{ locality: { zone: z }, endpoints: [{ address: "127.0.0.1:1" }] }]
  - name: plain
    localities: [{ locality: { zone: z }, endpoints: [{ address: "127.0.0.1:2" }] }]
"#,
    );
    let c: Cluster = decode(&res[type_url::CLUSTER]["greeter"]);
    let socket = c.transport_socket.expect("transport_socket");
    assert_eq!(socket.name, "envoy.transport_sockets.tls");
    let providers = ["roots".to_string(), "me".to_string()].into();
    let tls = meshwork::xds::resource::cluster::tls::upstream_tls(&socket, &providers)
        .expect("the SDK accepts it")
        .expect("TLS, not plaintext");
    assert_eq!(tls.root.instance_name, "roots");
    assert_eq!(tls.identity.map(|i| i.instance_name).as_deref(), Some("me"));
    assert_eq!(tls.sni, "greeter.local");
    assert_eq!(tls.subject_alt_names.len(), 1);
    assert!(tls.subject_alt_names[0].matches("spiffe://cluster.local/ns/default/sa/greeter"));
    assert!(!tls.subject_alt_names[0].matches("spiffe://cluster.local/ns/default/sa/other"));
    let plain: Cluster = decode(&res[type_url::CLUSTER]["plain"]);
    assert!(plain.transport_socket.is_none());
}
