//! The off-by-default recorders (A96 retries, A94 subchannels, A78 WRR) against the in-memory
//! Prometheus reader: names, units, buckets and labels as a scrape shows them, and nothing at
//! all while the instruments are off.

use std::io;
use std::time::Duration;

use super::*;
use crate::telemetry::{OptionalLabel, Telemetry, TelemetryBuilder};

const TARGET: &str = "xds:///greeter";

fn build(b: TelemetryBuilder) -> Telemetry {
    b.methods(MethodRegistry::none().service("pkg.Svc"))
        .build()
        .unwrap_or_default()
}

fn all_on() -> Telemetry {
    let b = Telemetry::builder().enable_metrics(OPTIONAL_METRICS);
    build(b.unwrap_or_default())
}

/// The value of the sample `name{...}` whose labels contain every `label`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn lb() -> LbLabels {
    LbLabels::new("greeter-v1", "r", "z", "")
}

#[test]
fn retries_are_recorded_once_per_call_with_the_method_rule_and_no_zeros() {
    let t = all_on();
    let Some(methods) = t.methods() else {
        panic!("telemetry must be on");
    };
    let r = t.mesh().retry_recorder(TARGET, methods);
    assert!(r.is_enabled());
    let counts = RetryCounts {
        retries: 2,
        transparent: 1,
        delay: Duration::from_millis(150),
    };
    r.record("/pkg.Svc/Get", counts);
    r.record(
        "/evil.Scanner/Probe",
        RetryCounts {
            transparent: 0,
            ..counts
        },
    );
    r.record("/pkg.Svc/Get", RetryCounts::default());
    let text = t.prometheus_text();
    let get = [
        "grpc_method=\"pkg.Svc/Get\"",
        "grpc_target=\"xds:///greeter\"",
    ];
    assert_eq!(
        sample(&text, "grpc_client_call_retries_count", &get),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "grpc_client_call_retries_sum", &get),
        Some(2.0),
        "{text}"
    );
    let other = ["grpc_method=\"other\""];
    assert_eq!(
        sample(&text, "grpc_client_call_retries_count", &other),
        Some(1.0),
        "{text}"
    );
    // A96 buckets: 1..=5 (plus +Inf), so 2 retries land in le="2".
    let le2 = [get[0], "le=\"2\""];
    assert_eq!(
        sample(&text, "grpc_client_call_retries_bucket", &le2),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("grpc_client_call_retries_bucket{grpc_method=\"pkg.Svc/Get\",grpc_target=\"xds:///greeter\",le=\"6\""));
    assert_eq!(
        sample(&text, "grpc_client_call_transparent_retries_count", &[]),
        Some(1.0),
        "the call without transparent retries records none: {text}"
    );
    let le10 = ["le=\"10\""];
    assert_eq!(
        sample(&text, "grpc_client_call_transparent_retries_bucket", &le10),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "grpc_client_call_retry_delay_seconds_sum", &get),
        Some(0.15),
        "{text}"
    );
    assert!(!text.contains("hedges"), "Meshwork never hedges: {text}");
}

#[test]
fn subchannel_counts_attempts_open_connections_and_disconnections() {
    let b = Telemetry::builder()
        .enable_metrics(OPTIONAL_METRICS)
        .map(|b| {
            b.optional_label(OptionalLabel::BackendService)
                .optional_label(OptionalLabel::DisconnectError)
        })
        .unwrap_or_default();
    let t = build(b);
    let s = t.mesh().subchannel(TARGET, &lb(), SecurityLevel::None);
    s.connect_failed();
    s.connected();
    s.connected();
    s.disconnected(DisconnectError::ConnectionReset);
    let text = t.prometheus_text();
    let labels = [
        "grpc_target=\"xds:///greeter\"",
        "grpc_lb_backend_service=\"greeter-v1\"",
    ];
    for (name, want) in [
        ("grpc_subchannel_connection_attempts_failed_total", 1.0),
        ("grpc_subchannel_connection_attempts_succeeded_total", 2.0),
        ("grpc_subchannel_open_connections", 1.0),
    ] {
        assert_eq!(sample(&text, name, &labels), Some(want), "{name} in {text}");
    }
    let reset = [labels[0], "grpc_disconnect_error=\"connection reset\""];
    assert_eq!(
        sample(&text, "grpc_subchannel_disconnections_total", &reset),
        Some(1.0),
        "{text}"
    );
    assert!(
        !text.contains("grpc_lb_locality"),
        "locality label is off: {text}"
    );
}

#[test]
fn wrr_updates_count_fallbacks_unusable_and_stale_weights() {
    let b = Telemetry::builder()
        .enable_metrics(OPTIONAL_METRICS)
        .map(|b| b.optional_label(OptionalLabel::Locality))
        .unwrap_or_default();
    let t = build(b);
    let w = t.mesh().wrr(TARGET, &lb());
    w.record(&WrrUpdate {
        rr_fallback: true,
        not_yet_usable: 2,
        stale: 1,
        weights: &[0.0, 0.0, 0.0, 40.0],
    });
    let text = t.prometheus_text();
    let locality = "grpc_lb_locality=\"{region=\\\"r\\\", zone=\\\"z\\\", sub_zone=\\\"\\\"}\"";
    let labels = ["grpc_target=\"xds:///greeter\"", locality];
    for (name, want) in [
        ("grpc_lb_wrr_rr_fallback_total", 1.0),
        ("grpc_lb_wrr_endpoint_weight_not_yet_usable_total", 2.0),
        ("grpc_lb_wrr_endpoint_weight_stale_total", 1.0),
        ("grpc_lb_wrr_endpoint_weights_count", 4.0),
        ("grpc_lb_wrr_endpoint_weights_sum", 40.0),
    ] {
        assert_eq!(sample(&text, name, &labels), Some(want), "{name} in {text}");
    }
}

#[test]
fn instruments_that_are_off_record_nothing() {
    let t = build(Telemetry::builder());
    let Some(methods) = t.methods() else {
        panic!("telemetry must be on");
    };
    let r = t.mesh().retry_recorder(TARGET, methods);
    let s = t.mesh().subchannel(TARGET, &lb(), SecurityLevel::None);
    let w = t.mesh().wrr(TARGET, &lb());
    assert!(!r.is_enabled() && !s.is_enabled() && !w.is_enabled());
    r.record(
        "/pkg.Svc/Get",
        RetryCounts {
            retries: 1,
            ..RetryCounts::default()
        },
    );
    s.connected();
    s.disconnected(DisconnectError::Unknown);
    w.record(&WrrUpdate {
        rr_fallback: true,
        not_yet_usable: 1,
        stale: 0,
        weights: &[1.0],
    });
    let text = t.prometheus_text();
    for name in ["grpc_client_call", "grpc_subchannel", "grpc_lb_wrr"] {
        assert!(!text.contains(name), "{name} in {text}");
    }
    // Only the enabled one of a family is built.
    let b = Telemetry::builder().enable_metric(CLIENT_CALL_RETRY_DELAY);
    let t = build(b.unwrap_or_default());
    let methods = t.methods().cloned().unwrap_or_default();
    let r = t.mesh().retry_recorder(TARGET, &methods);
    let counts = RetryCounts {
        retries: 3,
        transparent: 0,
        delay: Duration::from_millis(5),
    };
    r.record("/pkg.Svc/Get", counts);
    let text = t.prometheus_text();
    assert!(
        text.contains("grpc_client_call_retry_delay_seconds_count"),
        "{text}"
    );
    assert!(!text.contains("grpc_client_call_retries"), "{text}");
}

#[test]
fn disconnect_errors_are_classified_by_the_first_io_error() {
    #[derive(Debug, thiserror::Error)]
    #[error("wrapped")]
    struct Wrapped(#[source] io::Error);
    let reset = Wrapped(io::Error::from(io::ErrorKind::ConnectionReset));
    assert_eq!(
        DisconnectError::from_error(&reset),
        DisconnectError::ConnectionReset
    );
    let timed_out = io::Error::from(io::ErrorKind::TimedOut);
    assert_eq!(
        DisconnectError::from_error(&timed_out).as_str(),
        "connection timed out"
    );
    let pipe = io::Error::from(io::ErrorKind::BrokenPipe);
    assert_eq!(
        DisconnectError::from_error(&pipe),
        DisconnectError::SocketError
    );
    let fmt = std::fmt::Error;
    assert_eq!(DisconnectError::from_error(&fmt).as_str(), "unknown");
}

#[test]
fn open_connections_carry_the_security_level_when_that_label_is_on() {
    let with_label = Telemetry::builder()
        .enable_metric(SUBCHANNEL_OPEN_CONNECTIONS)
        .map(|b| b.optional_label(OptionalLabel::SecurityLevel))
        .unwrap_or_default();
    let t = build(with_label);
    let tls = t
        .mesh()
        .subchannel(TARGET, &lb(), SecurityLevel::PrivacyAndIntegrity);
    let plain = t.mesh().subchannel(TARGET, &lb(), SecurityLevel::None);
    tls.connected();
    tls.connected();
    plain.connected();
    tls.disconnected(DisconnectError::Unknown);
    let text = t.prometheus_text();
    let open = "grpc_subchannel_open_connections";
    let level = |l: &str| format!("grpc_security_level=\"{l}\"");
    assert_eq!(
        sample(&text, open, &[&level("privacy_and_integrity")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, open, &[&level("none")]), Some(1.0), "{text}");

    let without = build(
        Telemetry::builder()
            .enable_metric(SUBCHANNEL_OPEN_CONNECTIONS)
            .unwrap_or_default(),
    );
    let s = without
        .mesh()
        .subchannel(TARGET, &lb(), SecurityLevel::PrivacyAndIntegrity);
    s.connected();
    let text = without.prometheus_text();
    assert_eq!(sample(&text, open, &["grpc_target"]), Some(1.0), "{text}");
    assert!(!text.contains("grpc_security_level"), "{text}");
}

/// A peer's GOAWAY with an error code, as the connection task sees it (a hyper HTTP/2 client
/// connection ending with an error), is `GOAWAY <CODE>`.
#[tokio::test]
async fn a_goaway_from_the_peer_is_named_by_its_code() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    // The server keeps its socket until the client has read the GOAWAY: dropping it with the
    // client's late frames unread would reset the connection instead.
    let (client_done, done) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.expect("accept");
        let mut conn = h2::server::handshake(socket).await.expect("h2 handshake");
        conn.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
        while let Some(stream) = conn.accept().await {
            drop(stream);
        }
        let _ = done.await;
        drop(conn);
    });
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (_sender, driver) = hyper::client::conn::http2::handshake::<_, _, tonic::body::Body>(
        TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await
    .expect("client handshake");
    let ended = tokio::time::timeout(Duration::from_secs(10), driver)
        .await
        .expect("the connection ends after the GOAWAY");
    let _ = client_done.send(());
    let error = ended.expect_err("a GOAWAY with an error code is an error");
    let reason = DisconnectError::from_error(&error);
    assert_eq!(reason, DisconnectError::GoAway(11));
    assert_eq!(reason.as_str(), "GOAWAY ENHANCE_YOUR_CALM");
    assert_eq!(DisconnectError::GoAway(0).as_str(), "GOAWAY NO_ERROR");
    assert_eq!(DisconnectError::GoAway(0xff).as_str(), "unknown");
    let _ = server.await;
}
