use std::time::Duration;

use meshwork_proto::envoy::config::core::v3::{
    AggregatedConfigSource, ApiConfigSource, ConfigSource, HttpProtocolOptions,
    config_source::ConfigSourceSpecifier,
};
use meshwork_proto::envoy::config::listener::v3::{ApiListener, Listener as ProtoListener};
use meshwork_proto::envoy::config::route::v3::RouteConfiguration as ProtoRc;
use meshwork_proto::envoy::extensions::filters::common::fault::v3::{FaultDelay as PDelay, fault_delay};
use meshwork_proto::envoy::extensions::filters::http::fault::v3::{FaultAbort as PAbort, HttpFault, fault_abort};
use meshwork_proto::envoy::extensions::filters::http::router::v3::Router;
use meshwork_proto::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter as PFilter, Rds, http_connection_manager::RouteSpecifier,
    http_filter::ConfigType,
};
use meshwork_proto::envoy::r#type::v3::FractionalPercent;
use meshwork_proto::envoy_types::util::pack_any;
use meshwork_proto::google::protobuf::{Any, Duration as PDuration, UInt32Value};

use super::*;
use crate::xds::resource::common::Fraction;

fn filter(name: &str, any: Any, optional: bool) -> PFilter {
    PFilter { name: name.into(), is_optional: optional, config_type: Some(ConfigType::TypedConfig(any)), ..Default::default() }
}

fn router() -> PFilter {
    filter("envoy.filters.http.router", pack_any(Router::default()), false)
}

fn ads() -> Option<ConfigSource> {
    Some(ConfigSource {
        config_source_specifier: Some(ConfigSourceSpecifier::Ads(AggregatedConfigSource {})),
        ..Default::default()
    })
}

fn listener(hcm: HttpConnectionManager) -> ProtoListener {
    ProtoListener {
        name: "greeter:50051".into(),
        api_listener: Some(ApiListener { api_listener: Some(pack_any(hcm)) }),
        stat_prefix: "ignored".into(),
        ..Default::default()
    }
}

fn rds_hcm(filters: Vec<PFilter>) -> HttpConnectionManager {
    HttpConnectionManager {
        route_specifier: Some(RouteSpecifier::Rds(Rds { config_source: ads(), route_config_name: "routes-1".into() })),
        http_filters: filters,
        ..Default::default()
    }
}

fn err(l: &ProtoListener) -> String {
    Listener::try_from(l).unwrap_err().to_string()
}

fn istio_fault() -> HttpFault {
    HttpFault {
        delay: Some(PDelay {
            percentage: Some(FractionalPercent { numerator: 20, denominator: 0 }),
            fault_delay_secifier: Some(fault_delay::FaultDelaySecifier::FixedDelay(PDuration { seconds: 2, nanos: 0 })),
        }),
        abort: Some(PAbort {
            percentage: Some(FractionalPercent { numerator: 5, denominator: 0 }),
            error_type: Some(fault_abort::ErrorType::GrpcStatus(14)),
            ..Default::default()
        }),
        max_active_faults: Some(UInt32Value { value: 10 }),
        abort_percent_runtime: "ignored.runtime.key".into(),
        ..Default::default()
    }
}

#[test]
fn istio_style_listener_decodes_rds_fault_router_and_stream_cap() {
    let mut hcm = rds_hcm(vec![
        filter("envoy.filters.http.stateful_session", Any { type_url: "type.googleapis.com/envoy.extensions.filters.http.stateful_session.v3.StatefulSession".into(), value: vec![] }, true),
        filter("envoy.filters.http.fault", pack_any(istio_fault()), false),
        router(),
    ]);
    hcm.common_http_protocol_options =
        Some(HttpProtocolOptions { max_stream_duration: Some(PDuration { seconds: 5, nanos: 0 }), ..Default::default() });
    let l = Listener::try_from(&listener(hcm)).unwrap();
    let fault = FaultConfig {
        delay: Some(FaultDelay {
            source: DelaySource::Fixed(Duration::from_secs(2)),
            percentage: Fraction::from_per_million(200_000),
        }),
        abort: Some(FaultAbort {
            source: AbortSource::GrpcStatus(tonic::Code::Unavailable),
            percentage: Fraction::from_per_million(50_000),
        }),
        max_active_faults: Some(10),
        headers: vec![],
    };
    assert_eq!(
        l,
        Listener {
            name: "greeter:50051".into(),
            route_source: RouteSource::Rds { name: "routes-1".into() },
            http_filters: vec![
                HttpFilter { name: "envoy.filters.http.fault".into(), config: HttpFilterConfig::Fault(fault) },
                HttpFilter { name: "envoy.filters.http.router".into(), config: HttpFilterConfig::Router },
            ],
            max_stream_duration: Some(Duration::from_secs(5)),
        }
    );
}

#[test]
fn inline_route_config_is_decoded() {
    let hcm = HttpConnectionManager {
        route_specifier: Some(RouteSpecifier::RouteConfig(ProtoRc { name: "inline".into(), ..Default::default() })),
        http_filters: vec![router()],
        ..Default::default()
    };
    let l = Listener::try_from(&listener(hcm)).unwrap();
    assert!(matches!(&l.route_source, RouteSource::Inline(rc) if rc.name == "inline"));
}

#[test]
fn non_api_listener_is_rejected_with_a_hint() {
    let l = ProtoListener { name: "x".into(), ..Default::default() };
    let e = err(&l);
    assert!(e.starts_with("api_listener:") && e.contains("API listener"), "{e}");
}

#[test]
fn rds_config_source_must_be_ads_or_self() {
    let mut hcm = rds_hcm(vec![router()]);
    hcm.route_specifier = Some(RouteSpecifier::Rds(Rds {
        config_source: Some(ConfigSource {
            config_source_specifier: Some(ConfigSourceSpecifier::ApiConfigSource(ApiConfigSource::default())),
            ..Default::default()
        }),
        route_config_name: "r".into(),
    }));
    let e = err(&listener(hcm));
    assert!(e.contains("rds.config_source") && e.contains("api_config_source"), "{e}");
}

#[test]
fn filter_chain_rules_of_a39() {
    let unknown = Any { type_url: "type.googleapis.com/acme.Auth".into(), value: vec![] };
    // Unknown required filter: named in the error.
    let e = err(&listener(rds_hcm(vec![filter("auth", unknown.clone(), false), router()])));
    assert!(e.contains("http_filters[0]") && e.contains("`auth`") && e.contains("acme.Auth"), "{e}");
    // Unknown optional filter: skipped.
    let l = Listener::try_from(&listener(rds_hcm(vec![filter("auth", unknown, true), router()]))).unwrap();
    assert_eq!(l.http_filters.len(), 1);
    // Router missing, or not last.
    assert!(err(&listener(rds_hcm(vec![]))).contains("no router"));
    let fault = filter("fault", pack_any(HttpFault::default()), false);
    let e = err(&listener(rds_hcm(vec![router(), fault.clone()])));
    assert!(e.contains("http_filters[1]") && e.contains("must be the last"), "{e}");
    // Duplicate names.
    let e = err(&listener(rds_hcm(vec![fault.clone(), fault, router()])));
    assert!(e.contains("duplicate filter name"), "{e}");
}

#[test]
fn fault_values_out_of_range_are_rejected() {
    let mut f = istio_fault();
    f.abort = Some(PAbort { error_type: Some(fault_abort::ErrorType::HttpStatus(700)), ..Default::default() });
    let e = err(&listener(rds_hcm(vec![filter("fault", pack_any(f), false), router()])));
    assert!(e.contains("abort.http_status") && e.contains("700"), "{e}");
    let mut f = istio_fault();
    f.abort = Some(PAbort { error_type: Some(fault_abort::ErrorType::GrpcStatus(17)), ..Default::default() });
    assert!(err(&listener(rds_hcm(vec![filter("fault", pack_any(f), false), router()]))).contains("grpc_status"));
    assert_eq!(http_status_to_code(503), tonic::Code::Unavailable);
    assert_eq!(http_status_to_code(200), tonic::Code::Unknown);
}
