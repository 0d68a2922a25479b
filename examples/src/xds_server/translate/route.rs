//! RouteConfiguration for a service: one VirtualHost whose domains are the service host and
//! `host:port`, with its routes in file order (gRFC A28 matching, A31 timeouts, A44 retries,
//! A33 faults, A42 hash policies).
//!
//! Header matchers use `string_match` (gRFC A63) instead of the deprecated per-kind fields.

use meshwork_proto::envoy::config::core::v3::RuntimeFractionalPercent;
use meshwork_proto::envoy::config::route::v3::{
    HeaderMatcher, RetryPolicy, Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost,
    WeightedCluster,
    header_matcher::HeaderMatchSpecifier,
    retry_policy::RetryBackOff,
    route::Action,
    route_action::{self, ClusterSpecifier, MaxStreamDuration, hash_policy},
    route_match::PathSpecifier,
    weighted_cluster::ClusterWeight,
};
use meshwork_proto::envoy::extensions::filters::common::fault::v3::{
    FaultDelay, fault_delay::FaultDelaySecifier,
};
use meshwork_proto::envoy::extensions::filters::http::fault::v3::{
    FaultAbort, HttpFault, fault_abort::ErrorType,
};
use meshwork_proto::envoy::r#type::matcher::v3::{
    RegexMatcher, StringMatcher, string_matcher::MatchPattern,
};
use meshwork_proto::envoy::r#type::v3::Int64Range;
use meshwork_proto::google::protobuf::BoolValue;

use super::{FAULT_FILTER_NAME, fraction, to_any, u32_value};
use crate::xds_server::mesh::{self, Mesh, Service};

/// Filter-state key gRPC hashes for `channel_id: true` (gRFC A42).
const CHANNEL_ID_KEY: &str = "io.grpc.channel_id";

/// The RouteConfiguration a service's HCM names.
pub(super) fn route_configuration(mesh: &Mesh, service: &Service) -> RouteConfiguration {
    let routes = if service.routes.is_empty() {
        let catch_all = mesh::Route {
            cluster: service.cluster.clone(),
            ..Default::default()
        };
        vec![route(mesh, &catch_all)]
    } else {
        service.routes.iter().map(|r| route(mesh, r)).collect()
    };
    let mut domains = vec![service.host.clone(), service.listener_name()];
    domains.extend(service.domains.iter().cloned());
    RouteConfiguration {
        name: mesh.route_config_name(service),
        virtual_hosts: vec![VirtualHost {
            name: service.listener_name(),
            domains,
            routes,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn route(mesh: &Mesh, r: &mesh::Route) -> Route {
    let mut out = Route {
        name: r.name.clone().unwrap_or_default(),
        r#match: Some(route_match(&r.matcher)),
        action: Some(Action::Route(route_action(mesh, r))),
        ..Default::default()
    };
    if let Some(fault) = &r.fault {
        out.typed_per_filter_config
            .insert(FAULT_FILTER_NAME.to_owned(), to_any(&http_fault(fault)));
    }
    out
}

fn route_match(m: &mesh::RouteMatch) -> RouteMatch {
    let path_specifier = if let Some(path) = &m.path {
        PathSpecifier::Path(path.clone())
    } else if let Some(re) = &m.safe_regex {
        PathSpecifier::SafeRegex(regex(re))
    } else {
        PathSpecifier::Prefix(m.prefix.clone().unwrap_or_default())
    };
    RouteMatch {
        path_specifier: Some(path_specifier),
        case_sensitive: m.case_sensitive.map(|value| BoolValue { value }),
        headers: m.headers.iter().map(header_matcher).collect(),
        runtime_fraction: m.runtime_fraction.map(|p| RuntimeFractionalPercent {
            default_value: Some(fraction(p)),
            runtime_key: String::new(),
        }),
        ..Default::default()
    }
}

fn regex(re: &str) -> RegexMatcher {
    RegexMatcher {
        regex: re.to_owned(),
        ..Default::default()
    }
}

fn header_matcher(h: &mesh::HeaderMatch) -> HeaderMatcher {
    let string = |pattern| {
        HeaderMatchSpecifier::StringMatch(StringMatcher {
            ignore_case: h.ignore_case,
            match_pattern: Some(pattern),
        })
    };
    let specifier = if let Some(v) = &h.exact {
        string(MatchPattern::Exact(v.clone()))
    } else if let Some(v) = &h.prefix {
        string(MatchPattern::Prefix(v.clone()))
    } else if let Some(v) = &h.suffix {
        string(MatchPattern::Suffix(v.clone()))
    } else if let Some(v) = &h.regex {
        HeaderMatchSpecifier::StringMatch(StringMatcher {
            ignore_case: false,
            match_pattern: Some(MatchPattern::SafeRegex(regex(v))),
        })
    } else if let Some(r) = h.range {
        HeaderMatchSpecifier::RangeMatch(Int64Range {
            start: r.start,
            end: r.end,
        })
    } else {
        HeaderMatchSpecifier::PresentMatch(h.present.unwrap_or(true))
    };
    HeaderMatcher {
        name: h.name.clone(),
        invert_match: h.invert,
        header_match_specifier: Some(specifier),
        ..Default::default()
    }
}

fn route_action(mesh: &Mesh, r: &mesh::Route) -> RouteAction {
    let cluster_specifier = match &r.cluster {
        Some(c) => ClusterSpecifier::Cluster(mesh.cluster_xds_name(c)),
        None => ClusterSpecifier::WeightedClusters(WeightedCluster {
            clusters: r
                .weighted_clusters
                .iter()
                .map(|w| ClusterWeight {
                    name: mesh.cluster_xds_name(&w.name),
                    weight: Some(u32_value(w.weight)),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
    };
    RouteAction {
        cluster_specifier: Some(cluster_specifier),
        max_stream_duration: r.timeout.as_ref().map(|t| MaxStreamDuration {
            max_stream_duration: t.max_stream_duration.map(|d| d.to_proto()),
            grpc_timeout_header_max: t.grpc_timeout_header_max.map(|d| d.to_proto()),
            grpc_timeout_header_offset: None,
        }),
        retry_policy: r.retry.as_ref().map(retry_policy),
        hash_policy: r.hash_policy.iter().map(hash_policy).collect(),
        ..Default::default()
    }
}

fn retry_policy(r: &mesh::Retry) -> RetryPolicy {
    RetryPolicy {
        retry_on: r.retry_on.join(","),
        num_retries: r.num_retries.map(u32_value),
        retry_back_off: r.backoff.as_ref().map(|b| RetryBackOff {
            base_interval: Some(b.base_interval.to_proto()),
            max_interval: b.max_interval.map(|d| d.to_proto()),
        }),
        ..Default::default()
    }
}

fn hash_policy(h: &mesh::HashPolicy) -> route_action::HashPolicy {
    let specifier = match &h.header {
        Some(name) => hash_policy::PolicySpecifier::Header(hash_policy::Header {
            header_name: name.clone(),
            regex_rewrite: None,
        }),
        None => hash_policy::PolicySpecifier::FilterState(hash_policy::FilterState {
            key: CHANNEL_ID_KEY.to_owned(),
        }),
    };
    route_action::HashPolicy {
        terminal: h.terminal,
        policy_specifier: Some(specifier),
    }
}

fn http_fault(f: &mesh::Fault) -> HttpFault {
    HttpFault {
        delay: f.delay.as_ref().map(|d| FaultDelay {
            percentage: Some(fraction(d.percent)),
            fault_delay_secifier: Some(FaultDelaySecifier::FixedDelay(d.fixed.to_proto())),
        }),
        abort: f.abort.as_ref().map(|a| FaultAbort {
            percentage: Some(fraction(a.percent)),
            error_type: match (a.http_status, a.grpc_status) {
                (Some(h), _) => Some(ErrorType::HttpStatus(h)),
                (None, Some(g)) => Some(ErrorType::GrpcStatus(g)),
                (None, None) => None,
            },
            ..Default::default()
        }),
        max_active_faults: f.max_active_faults.map(u32_value),
        ..Default::default()
    }
}
