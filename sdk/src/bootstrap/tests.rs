//! Tests of reading bootstrap JSON: every field, defaults, unknown fields, and each field error
//! with its message. Where bootstraps come from is tested in `tests/sources.rs`.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;

mod sources;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/bootstrap/testdata/istio-agent.json"
);

fn parse(doc: Value) -> Result<Bootstrap, BootstrapError> {
    Bootstrap::from_json_str(&doc.to_string(), BootstrapSource::InCode)
}

fn minimal() -> Value {
    json!({"xds_servers": [{"server_uri": "127.0.0.1:18000", "channel_creds": [{"type": "insecure"}]}]})
}

/// A minimal document whose only server uses these channel creds.
fn with_creds(creds: Value) -> Value {
    json!({"xds_servers": [{"server_uri": "cp:1", "channel_creds": creds}]})
}

/// The error for `doc`, which must be a field error at `field`; returns the message.
fn field_error(doc: Value, field: &str) -> String {
    match parse(doc) {
        Err(e @ BootstrapError::Field(_)) => {
            assert_eq!(e.field(), Some(field), "wrong field in: {e}");
            e.to_string()
        }
        other => panic!("expected a field error at `{field}`, got {other:?}"),
    }
}

#[test]
fn minimal_bootstrap_gets_every_default() {
    let b = parse(minimal()).unwrap();
    assert_eq!(
        b,
        Bootstrap::new(XdsServer::insecure("127.0.0.1:18000"), Node::default())
    );
    assert_eq!(b.client_default_listener_resource_name_template, "%s");
    assert_eq!(b.server_listener_resource_name_template, None);
    assert!(b.certificate_providers.is_empty() && b.authorities.is_empty());
    assert!(b.xds_servers[0].server_features.is_empty());
}

#[test]
fn every_field_is_read() {
    let b = parse(json!({
        "xds_servers": [
            {"server_uri": "primary:1", "channel_creds": [{"type": "insecure"}],
             "server_features": ["xds_v3", "fail_on_data_errors"]},
            {"server_uri": "fallback:2", "channel_creds": [{"type": "tls"}]}
        ],
        "node": {"id": "n1", "cluster": "greeter",
                 "locality": {"region": "r", "zone": "z", "sub_zone": "s"},
                 "metadata": {"GENERATOR": "grpc", "nested": {"k": [1, 2]}}},
        "certificate_providers": {"default": {"plugin_name": "file_watcher",
                                              "config": {"certificate_file": "/c.pem"}}},
        "authorities": {
            "a.example": {},
            "b.example": {"client_listener_resource_name_template": "xdstp://b.example/L/%s?p=1",
                          "xds_servers": [{"server_uri": "b:3", "channel_creds": [{"type": "insecure"}]}]}
        },
        "client_default_listener_resource_name_template": "grpc/client/%s",
        "server_listener_resource_name_template": "grpc/server/%s"
    }))
    .unwrap();
    let uris: Vec<_> = b
        .xds_servers
        .iter()
        .map(|s| s.server_uri.as_str())
        .collect();
    assert_eq!(
        uris,
        ["primary:1", "fallback:2"],
        "order is fallback order (A71)"
    );
    assert!(b.xds_servers[0].has_feature("fail_on_data_errors"));
    assert!(!b.xds_servers[1].has_feature("xds_v3"));
    assert_eq!(b.node.id, "n1");
    assert_eq!(b.node.cluster, "greeter");
    let locality = Locality {
        region: "r".into(),
        zone: "z".into(),
        sub_zone: "s".into(),
    };
    assert_eq!(b.node.locality, Some(locality));
    assert_eq!(
        Value::Object(b.node.metadata.clone()),
        json!({"GENERATOR": "grpc", "nested": {"k": [1, 2]}})
    );
    assert_eq!(
        b.certificate_providers["default"].plugin_name,
        "file_watcher"
    );
    assert_eq!(
        b.certificate_providers["default"].config,
        json!({"certificate_file": "/c.pem"})
    );
    assert_eq!(b.authorities["a.example"], Authority::new("a.example"));
    assert_eq!(
        b.authorities["a.example"].client_listener_resource_name_template,
        "xdstp://a.example/envoy.config.listener.v3.Listener/%s"
    );
    let authority_b = &b.authorities["b.example"];
    assert_eq!(
        authority_b.client_listener_resource_name_template,
        "xdstp://b.example/L/%s?p=1"
    );
    assert_eq!(authority_b.xds_servers, [XdsServer::insecure("b:3")]);
    assert_eq!(
        b.client_default_listener_resource_name_template,
        "grpc/client/%s"
    );
    assert_eq!(
        b.server_listener_resource_name_template.as_deref(),
        Some("grpc/server/%s")
    );
}

#[test]
fn unknown_fields_and_nulls_are_ignored_everywhere() {
    let b = parse(json!({
        "future_top": {"x": 1},
        "xds_servers": [{"server_uri": "cp:1", "channel_creds": [{"type": "insecure", "extra": 1}],
                         "server_features": ["xds_v3", 7, {"x": 1}, null, "trusted_xds_server"],
                         "call_creds": [{"type": "jwt_token_file"}], "more": true}],
        "node": {"id": "n", "cluster": null, "locality": {"zone": "z", "x": 1}, "user_agent_name": "x"},
        "certificate_providers": {"p": {"plugin_name": "file_watcher", "x": 1}},
        "authorities": {"a": {"x": 1, "xds_servers": null}},
        "server_listener_resource_name_template": null
    }))
    .unwrap();
    assert_eq!(
        b.xds_servers[0].server_features,
        ["xds_v3", "trusted_xds_server"]
    );
    assert_eq!(b.node.cluster, "");
    assert_eq!(b.node.locality.as_ref().map(|l| l.zone.as_str()), Some("z"));
    assert_eq!(b.certificate_providers["p"].config, json!({}));
    assert_eq!(b.authorities["a"], Authority::new("a"));
    assert_eq!(b.server_listener_resource_name_template, None);
}

#[test]
fn first_supported_channel_creds_win() {
    let tls_later = with_creds(
        json!([{"type": "google_default"}, {"type": "alts"}, {"type": "tls"}, {"type": "insecure"}]),
    );
    assert_eq!(
        parse(tls_later).unwrap().xds_servers[0].channel_creds,
        ChannelCreds::tls(None)
    );
    let insecure_first = with_creds(
        json!([{"type": "insecure"}, {"type": "tls", "config": {"certificate_file": "/only-cert"}}]),
    );
    assert_eq!(
        parse(insecure_first).unwrap().xds_servers[0].channel_creds,
        ChannelCreds::Insecure
    );
}

#[test]
fn tls_config_is_read_with_defaults() {
    let bare = parse(with_creds(json!([{"type": "tls", "config": {}}]))).unwrap();
    let ChannelCreds::Tls {
        ca_certificate_file,
        certificate_file,
        refresh_interval,
        ..
    } = &bare.xds_servers[0].channel_creds
    else {
        panic!("expected tls");
    };
    assert_eq!(
        (ca_certificate_file, certificate_file),
        (&None, &None),
        "system roots, no mTLS"
    );
    assert_eq!(*refresh_interval, Duration::from_secs(600));

    let full = parse(with_creds(json!([{"type": "tls", "config": {
        "ca_certificate_file": "/ca.pem", "certificate_file": "/c.pem",
        "private_key_file": "/k.pem", "refresh_interval": "1.5s"}}])))
    .unwrap();
    assert_eq!(
        full.xds_servers[0].channel_creds,
        ChannelCreds::Tls {
            ca_certificate_file: Some("/ca.pem".into()),
            certificate_file: Some("/c.pem".into()),
            private_key_file: Some("/k.pem".into()),
            refresh_interval: Duration::from_millis(1500),
        }
    );
}

#[test]
fn tls_certificate_and_key_come_together() {
    let only_cert = with_creds(json!([{"type": "tls", "config": {"certificate_file": "/c.pem"}}]));
    let msg = field_error(
        only_cert,
        "xds_servers[0].channel_creds[0].config.private_key_file",
    );
    assert!(msg.contains("only `certificate_file` is set"), "{msg}");
    assert!(msg.contains("add \"private_key_file\""), "{msg}");
    let only_key = with_creds(
        json!([{"type": "insecure_not"}, {"type": "tls", "config": {"private_key_file": "/k.pem"}}]),
    );
    let msg = field_error(
        only_key,
        "xds_servers[0].channel_creds[1].config.certificate_file",
    );
    assert!(msg.contains("only `private_key_file` is set"), "{msg}");
}

#[test]
fn tls_refresh_interval_must_be_a_positive_json_duration() {
    for bad in ["10m", "600", "0s", "-5s"] {
        let doc = with_creds(json!([{"type": "tls", "config": {"refresh_interval": bad}}]));
        let msg = field_error(
            doc,
            "xds_servers[0].channel_creds[0].config.refresh_interval",
        );
        assert!(
            msg.contains(&format!("found the string \"{bad}\"")),
            "{msg}"
        );
        assert!(msg.contains("\"600s\""), "{msg}");
    }
    let number = with_creds(json!([{"type": "tls", "config": {"refresh_interval": 600}}]));
    let msg = field_error(
        number,
        "xds_servers[0].channel_creds[0].config.refresh_interval",
    );
    assert!(
        msg.contains("expected a JSON string, found the number 600"),
        "{msg}"
    );
}

#[test]
fn no_supported_channel_creds_is_an_error_naming_what_was_found() {
    let msg = field_error(
        with_creds(json!([{"type": "google_default"}, {"type": "alts"}])),
        "xds_servers[0].channel_creds",
    );
    assert!(
        msg.contains("expected at least one entry of type `insecure` or `tls`"),
        "{msg}"
    );
    assert!(msg.contains("\"google_default\", \"alts\""), "{msg}");
    let msg = field_error(with_creds(json!([])), "xds_servers[0].channel_creds");
    assert!(msg.contains("found an empty list"), "{msg}");
}

#[test]
fn channel_creds_entries_need_a_string_type() {
    let doc = with_creds(json!([{"type": "google_default"}, {"type": 5}]));
    let msg = field_error(doc, "xds_servers[0].channel_creds[1].type");
    assert!(
        msg.contains("expected a JSON string, found the number 5"),
        "{msg}"
    );
    let doc = with_creds(json!([{"config": {}}]));
    let msg = field_error(doc, "xds_servers[0].channel_creds[0].type");
    assert!(
        msg.contains("found nothing (the field is missing)"),
        "{msg}"
    );
    field_error(
        with_creds(json!([{"type": "tls", "config": "x"}])),
        "xds_servers[0].channel_creds[0].config",
    );
    let odd_configs =
        json!([{"type": "google_default", "config": 5}, {"type": "insecure", "config": "x"}]);
    let b = parse(with_creds(odd_configs)).unwrap();
    assert_eq!(
        b.xds_servers[0].channel_creds,
        ChannelCreds::Insecure,
        "configs not read are not checked"
    );
}

#[test]
fn xds_servers_are_required_and_non_empty() {
    let msg = field_error(json!({"node": {"id": "n"}}), "xds_servers");
    assert!(
        msg.contains("found nothing (the field is missing)"),
        "{msg}"
    );
    let msg = field_error(json!({"xds_servers": []}), "xds_servers");
    assert!(
        msg.contains("expected at least one xDS server, found an array of 0 element(s)"),
        "{msg}"
    );
    field_error(json!({"xds_servers": {"server_uri": "x"}}), "xds_servers");
    field_error(json!({"xds_servers": ["cp:1"]}), "xds_servers[0]");
    let no_uri = json!({"xds_servers": [{"channel_creds": [{"type": "insecure"}]}]});
    field_error(no_uri, "xds_servers[0].server_uri");
    let empty_uri =
        json!({"xds_servers": [{"server_uri": " ", "channel_creds": [{"type": "insecure"}]}]});
    field_error(empty_uri, "xds_servers[0].server_uri");
    let no_creds = json!({"xds_servers": [{"server_uri": "cp:1"}]});
    field_error(no_creds, "xds_servers[0].channel_creds");
    let mut second_bad = minimal();
    second_bad["xds_servers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"server_uri": "cp:2", "channel_creds": [], "server_features": "xds_v3"}));
    field_error(second_bad, "xds_servers[1].channel_creds");
}

#[test]
fn wrongly_typed_fields_are_errors_with_their_path() {
    let cases = [
        ("node", json!("n"), "node"),
        ("node", json!({"id": 5}), "node.id"),
        ("node", json!({"locality": "z1"}), "node.locality"),
        (
            "node",
            json!({"locality": {"sub_zone": false}}),
            "node.locality.sub_zone",
        ),
        ("node", json!({"metadata": ["a"]}), "node.metadata"),
        ("certificate_providers", json!([]), "certificate_providers"),
        (
            "certificate_providers",
            json!({"p": {"config": {}}}),
            "certificate_providers[\"p\"].plugin_name",
        ),
        (
            "certificate_providers",
            json!({"p": {"plugin_name": "f", "config": "x"}}),
            "certificate_providers[\"p\"].config",
        ),
        ("authorities", json!({"a": []}), "authorities[\"a\"]"),
        (
            "authorities",
            json!({"a": {"xds_servers": [{}]}}),
            "authorities[\"a\"].xds_servers[0].server_uri",
        ),
        (
            "client_default_listener_resource_name_template",
            json!(1),
            "client_default_listener_resource_name_template",
        ),
        (
            "server_listener_resource_name_template",
            json!({}),
            "server_listener_resource_name_template",
        ),
    ];
    for (key, value, path) in cases {
        let mut doc = minimal();
        doc[key] = value;
        field_error(doc, path);
    }
    let msg = field_error(json!([]), "(top level)");
    assert!(
        msg.contains("expected a JSON object `{...}`, found an array of 0 element(s)"),
        "{msg}"
    );
}

#[test]
fn authority_templates_must_start_with_their_own_name() {
    for bad in [
        "xdstp://other/L/%s",
        "xdstp://a.example.evil/L/%s",
        "xdstp://a.example",
        "a.example/%s",
    ] {
        let mut doc = minimal();
        doc["authorities"] = json!({"a.example": {"client_listener_resource_name_template": bad}});
        let msg = field_error(
            doc,
            "authorities[\"a.example\"].client_listener_resource_name_template",
        );
        assert!(
            msg.contains("expected a template starting with `xdstp://a.example/`"),
            "{msg}"
        );
        assert!(
            msg.contains("xdstp://a.example/envoy.config.listener.v3.Listener/%s"),
            "{msg}"
        );
    }
    let mut empty_list = minimal();
    empty_list["authorities"] = json!({"a": {"xds_servers": []}});
    assert!(
        parse(empty_list).unwrap().authorities["a"]
            .xds_servers
            .is_empty(),
        "empty = top-level servers"
    );
}
