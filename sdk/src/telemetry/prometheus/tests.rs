use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;

use super::*;

fn provider() -> (SdkMeterProvider, PrometheusReader) {
    let reader = PrometheusReader::new();
    let provider = SdkMeterProvider::builder()
        .with_reader(reader.clone())
        .build();
    (provider, reader)
}

#[test]
fn golden_text_for_a_counter_a_histogram_and_a_gauge() {
    let (provider, reader) = provider();
    let meter = provider.meter("test");
    let started = meter
        .u64_counter("grpc.client.attempt.started")
        .with_unit("{attempt}")
        .with_description("Number of client call attempts started.")
        .build();
    let duration = meter
        .f64_histogram("grpc.client.attempt.duration")
        .with_unit("s")
        .with_description("Attempt \"latency\"\nin seconds.")
        .with_boundaries(vec![0.0, 0.001, 0.5])
        .build();
    let connected = meter
        .u64_gauge("grpc.xds_client.connected")
        .with_unit("{bool}")
        .build();
    let attrs = [
        KeyValue::new("grpc.target", "dns:///a:1"),
        KeyValue::new("grpc.method", "pkg.S/M"),
    ];
    started.add(2, &attrs);
    let with_status = [
        attrs[0].clone(),
        attrs[1].clone(),
        KeyValue::new("grpc.status", "OK"),
    ];
    duration.record(0.0005, &with_status);
    duration.record(0.25, &with_status);
    duration.record(2.0, &with_status);
    connected.record(1, &[KeyValue::new("grpc.xds.server", "x\"y\\z")]);

    let text = reader.render().unwrap_or_default();
    let expected = r#"# HELP grpc_client_attempt_duration_seconds Attempt "latency"\nin seconds.
# TYPE grpc_client_attempt_duration_seconds histogram
grpc_client_attempt_duration_seconds_bucket{grpc_method="pkg.S/M",grpc_status="OK",grpc_target="dns:///a:1",le="0"} 0
grpc_client_attempt_duration_seconds_bucket{grpc_method="pkg.S/M",grpc_status="OK",grpc_target="dns:///a:1",le="0.001"} 1
grpc_client_attempt_duration_seconds_bucket{grpc_method="pkg.S/M",grpc_status="OK",grpc_target="dns:///a:1",le="0.5"} 2
grpc_client_attempt_duration_seconds_bucket{grpc_method="pkg.S/M",grpc_status="OK",grpc_target="dns:///a:1",le="+Inf"} 3
grpc_client_attempt_duration_seconds_sum{grpc_method="pkg.S/M",grpc_status="OK",grpc_target="dns:///a:1"} 2.2505
grpc_client_attempt_duration_seconds_count{grpc_method="pkg.S/M",grpc_status="OK",grpc_target="dns:///a:1"} 3
# HELP grpc_client_attempt_started_total Number of client call attempts started.
# TYPE grpc_client_attempt_started_total counter
grpc_client_attempt_started_total{grpc_method="pkg.S/M",grpc_target="dns:///a:1"} 2
# TYPE grpc_xds_client_connected gauge
grpc_xds_client_connected{grpc_xds_server="x\"y\\z"} 1
"#;
    assert_eq!(text, expected);
}

#[test]
fn empty_provider_renders_nothing() {
    let (_provider, reader) = provider();
    assert_eq!(reader.render().unwrap_or_else(|e| e), "");
}

#[test]
fn names_and_units_follow_the_otel_prometheus_mapping() {
    assert_eq!(
        sanitize("grpc.client.attempt.duration"),
        "grpc_client_attempt_duration"
    );
    assert_eq!(sanitize("9lives..x"), "_9lives_x");
    assert_eq!(unit_suffix("s"), "seconds");
    assert_eq!(unit_suffix("By"), "bytes");
    assert_eq!(unit_suffix("{call}"), "");
    assert_eq!(unit_suffix("By/s"), "bytes_per_second");
    assert_eq!(fmt_f64(0.00001), "0.00001");
    assert_eq!(fmt_f64(4294967296.0), "4294967296");
}
