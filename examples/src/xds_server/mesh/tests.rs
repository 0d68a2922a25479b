use super::*;

fn error(yaml: &str) -> String {
    Mesh::parse(yaml, Format::Yaml, "mesh.yaml")
        .unwrap_err()
        .to_string()
}

#[test]
fn syntax_errors_name_file_line_and_field() {
    let text = error("services:\n  - host: a\n    port: 1\n    clustr: c\n");
    assert!(text.starts_with("mesh.yaml:4:"), "{text}");
    assert!(text.contains("clustr"), "{text}");
    let text = error("services:\n  - host: a\n    port: seventy\n");
    assert!(text.starts_with("mesh.yaml:3:"), "{text}");
}

#[test]
fn json_is_detected_and_parsed() {
    let json = r#"{"services":[{"host":"a","port":1,"cluster":"c"}],"clusters":[{"name":"c"}]}"#;
    assert_eq!(Format::detect(None, json), Format::Json);
    let mesh = Mesh::parse(json, Format::Json, "m.json").unwrap();
    assert_eq!(mesh.services[0].listener_name(), "a:1");
    let err = Mesh::parse("{\n\"services\": 3}", Format::Json, "m.json")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("m.json:2:"), "{err}");
}

#[test]
fn unknown_cluster_reference_is_reported_with_line_and_path() {
    let yaml = "services:\n  - host: a\n    port: 1\n    routes:\n      - cluster: nope\nclusters:\n  - name: c\n";
    let text = error(yaml);
    assert!(
        text.contains("mesh.yaml:5: services[0].routes[0].cluster"),
        "{text}"
    );
    assert!(text.contains("`nope` is not declared"), "{text}");
}

#[test]
fn semantic_rules_are_enforced() {
    let cases = [
        (
            "weighted_clusters: [{name: c, weight: 0}]",
            "weights must sum",
        ),
        (
            "cluster: c\n        retry: {retry_on: [5xx]}",
            "gRPC retries only on",
        ),
        ("cluster: c\n        match: {prefix: foo}", "start with `/`"),
        (
            "cluster: c\n        match: {safe_regex: '('}",
            "invalid regular expression",
        ),
        (
            "cluster: c\n        match: {headers: [{name: x, exact: a, prefix: b}]}",
            "exactly one of",
        ),
        (
            "cluster: c\n        fault: {abort: {http_status: 503, grpc_status: 14, percent: 1}}",
            "exactly one of",
        ),
        (
            "cluster: c\n        fault: {delay: {fixed: 1s, percent: 101}}",
            "between 0 and 100",
        ),
        (
            "cluster: c\n        retry: {retry_on: [unavailable], backoff: {base_interval: 1s, max_interval: 1ms}}",
            "max_interval",
        ),
    ];
    for (route, expected) in cases {
        let yaml = format!(
            "services:\n  - host: a\n    port: 1\n    routes:\n      - {route}\nclusters:\n  - name: c\n"
        );
        let text = error(&yaml);
        assert!(text.contains(expected), "route `{route}`: {text}");
    }
}

#[test]
fn endpoint_rules_are_enforced() {
    let cases = [
        (
            "[{priority: 1, endpoints: [{address: '127.0.0.1:1'}]}]",
            "contiguous",
        ),
        (
            "[{endpoints: [{address: 'localhost:1'}]}]",
            "expected `ip:port`",
        ),
        (
            "[{endpoints: [{address: '127.0.0.1:1'}]}, {locality: {zone: z}, endpoints: [{address: '127.0.0.1:1'}]}]",
            "appears twice",
        ),
        (
            "[{endpoints: [{address: '127.0.0.1:1'}]}, {endpoints: [{address: '127.0.0.1:2'}]}]",
            "appears twice at priority 0",
        ),
        (
            "[{weight: 0, endpoints: [{address: '127.0.0.1:1'}]}]",
            "locality weight",
        ),
        (
            "[{endpoints: [{address: '127.0.0.1:1', weight: 0}]}]",
            "endpoint weight",
        ),
    ];
    for (localities, expected) in cases {
        let yaml = format!(
            "services: [{{host: a, port: 1, cluster: c}}]\nclusters:\n  - name: c\n    localities: {localities}\n"
        );
        let text = error(&yaml);
        assert!(text.contains(expected), "localities `{localities}`: {text}");
    }
}

#[test]
fn lb_settings_must_match_the_policy() {
    let text = error(
        "services: [{host: a, port: 1, cluster: c}]\nclusters: [{name: c, ring_hash: {minimum_ring_size: 1}}]",
    );
    assert!(text.contains("need `lb_policy: ring_hash`"), "{text}");
    let text =
        error("naming: istio\nservices: [{host: a, port: 1, cluster: c}]\nclusters: [{name: c}]");
    assert!(text.contains("needs a `port`"), "{text}");
}

#[test]
fn dns_clusters_need_host_port_and_no_localities() {
    let text =
        error("services: [{host: a, port: 1, cluster: c}]\nclusters: [{name: c, dns: localhost}]");
    assert!(text.contains("`dns` must be host:port"), "{text}");
    let text = error(
        "services: [{host: a, port: 1, cluster: c}]\nclusters: [{name: c, dns: 'localhost:80', localities: [{locality: {zone: z}, endpoints: [{address: '127.0.0.1:1'}]}]}]",
    );
    assert!(text.contains("has no `localities`"), "{text}");
    assert!(
        Mesh::parse(
            "services: [{host: a, port: 1, cluster: c}]\nclusters: [{name: c, dns: 'db.internal:5432'}]",
            Format::Yaml,
            "mesh.yaml"
        )
        .is_ok()
    );
}

#[test]
fn tls_blocks_need_instance_names_and_non_empty_sans() {
    let base = "services: [{host: a, port: 1, cluster: c}]\nclusters: [{name: c, localities: [{locality: {zone: z}, endpoints: [{address: '127.0.0.1:1'}]}], tls: ";
    let text = error(&format!("{base}{{ca_instance: ''}}}}]"));
    assert!(text.contains("tls.ca_instance must name"), "{text}");
    let text = error(&format!("{base}{{ca_instance: default, san: ['']}}}}]"));
    assert!(text.contains("tls.san entries must be non-empty"), "{text}");
    let text = error(&format!(
        "{base}{{ca_instance: default, identity_instance: ''}}}}]"
    ));
    assert!(
        text.contains("tls.identity_instance must not be empty"),
        "{text}"
    );
    let text = error(&format!("{base}{{ca_instance: default, sni: ''}}}}]"));
    assert!(text.contains("tls.sni must not be empty"), "{text}");
    let text = error(&format!("{base}{{ca: default}}}}]"));
    assert!(text.contains("unknown field `ca`"), "{text}");
    let ok = Mesh::parse(
        &format!(
            "{base}{{ca_instance: default, identity_instance: default, san: ['spiffe://cluster.local/ns/default/sa/greeter'], sni: greeter}}}}]"
        ),
        Format::Yaml,
        "mesh.yaml",
    );
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn server_listeners_need_an_address_and_a_ca_for_mtls() {
    let text = error("server_listeners:\n  - address: localhost:80\n");
    assert!(text.contains("server_listeners[0].address"), "{text}");
    let text = error(
        "server_listeners:\n  - address: 0.0.0.0:80\n    tls: { identity_instance: id, require_client_certificate: true }\n",
    );
    assert!(
        text.contains("server_listeners[0].tls.require_client_certificate"),
        "{text}"
    );
    let mesh = Mesh::from_yaml(
        "server_listeners:\n  - address: 0.0.0.0:80\n    tls: { identity_instance: id, ca_instance: ca, require_client_certificate: true }\n",
    )
    .unwrap();
    assert_eq!(
        mesh.server_listeners[0].resource_name(),
        "grpc/server?xds.resource.listening_address=0.0.0.0:80"
    );
}
