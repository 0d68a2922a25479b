//! Tests of where a bootstrap comes from: JSON syntax errors, files, the two environment
//! variables and their precedence, and bootstraps built in code.

use std::ffi::OsStr;

use serde_json::json;

use super::{FIXTURE, minimal};
use crate::bootstrap::*;

#[test]
fn malformed_json_reports_line_and_column() {
    let text = "{\n  \"xds_servers\": [,]\n}";
    match Bootstrap::from_json_str(text, BootstrapSource::EnvConfig) {
        Err(
            e @ BootstrapError::Json {
                line: 2,
                column: 19,
                ..
            },
        ) => {
            let msg = e.to_string();
            assert!(
                msg.contains("GRPC_XDS_BOOTSTRAP_CONFIG is not valid JSON"),
                "{msg}"
            );
            assert!(msg.contains("at line 2, column 19"), "{msg}");
        }
        other => panic!("expected a JSON error at 2:19, got {other:?}"),
    }
}

#[test]
fn errors_name_their_origin() {
    let bad = "{\"xds_servers\": []}";
    let in_code = Bootstrap::from_json_str(bad, BootstrapSource::InCode)
        .unwrap_err()
        .to_string();
    assert!(
        in_code.starts_with("invalid gRPC xDS bootstrap built in code: at `xds_servers`"),
        "{in_code}"
    );
    let env = Bootstrap::from_env_values(None, Some(OsStr::new(bad)))
        .unwrap_err()
        .to_string();
    assert!(
        env.contains("bootstrap from GRPC_XDS_BOOTSTRAP_CONFIG"),
        "{env}"
    );
    let file = Bootstrap::from_json_str(bad, BootstrapSource::File("/etc/b.json".into()))
        .unwrap_err()
        .to_string();
    assert!(file.contains("bootstrap file `/etc/b.json`"), "{file}");
}

#[test]
fn reads_a_file_as_istio_agent_writes_it() {
    let b = Bootstrap::from_file(FIXTURE).unwrap();
    assert_eq!(
        b.xds_servers,
        [XdsServer::insecure("unix:///etc/istio/proxy/XDS").with_feature("xds_v3")]
    );
    assert_eq!(
        b.node.id,
        "sidecar~10.0.0.7~greeter-1.default~default.svc.cluster.local"
    );
    assert_eq!(b.node.metadata["GENERATOR"], json!("grpc"));
    assert_eq!(b.node.locality, Some(Locality::default()));
    assert_eq!(
        b.certificate_providers["default"].config["refresh_interval"],
        json!("900s")
    );
    assert_eq!(
        b.server_listener_resource_name_template.as_deref(),
        Some("xds.istio.io/grpc/lds/inbound/%s")
    );
}

#[test]
fn a_missing_file_names_the_path_and_the_variable() {
    let missing = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/bootstrap/testdata/absent.json"
    );
    let direct = Bootstrap::from_file(missing).unwrap_err().to_string();
    assert!(
        direct.starts_with(&format!(
            "cannot read the gRPC xDS bootstrap file `{missing}`"
        )),
        "{direct}"
    );
    let via_env = Bootstrap::from_env_values(Some(OsStr::new(missing)), None)
        .unwrap_err()
        .to_string();
    assert!(
        via_env.contains("(named by GRPC_XDS_BOOTSTRAP)"),
        "{via_env}"
    );
}

#[test]
fn the_file_variable_wins_over_the_inline_config() {
    let inline = minimal().to_string();
    let both =
        Bootstrap::from_env_values(Some(OsStr::new(FIXTURE)), Some(OsStr::new(&inline))).unwrap();
    assert_eq!(
        both.xds_servers[0].server_uri,
        "unix:///etc/istio/proxy/XDS"
    );
    let config_only = Bootstrap::from_env_values(None, Some(OsStr::new(&inline))).unwrap();
    assert_eq!(config_only.xds_servers[0].server_uri, "127.0.0.1:18000");
    let empty_file =
        Bootstrap::from_env_values(Some(OsStr::new("")), Some(OsStr::new(&inline))).unwrap();
    assert_eq!(
        empty_file.xds_servers[0].server_uri, "127.0.0.1:18000",
        "an empty variable counts as unset"
    );
}

#[test]
fn neither_variable_set_names_both() {
    for (file, config) in [(None, None), (Some(OsStr::new("")), Some(OsStr::new("")))] {
        let err = Bootstrap::from_env_values(file, config).unwrap_err();
        assert!(matches!(err, BootstrapError::NotConfigured));
        let msg = err.to_string();
        assert!(
            msg.contains("GRPC_XDS_BOOTSTRAP ") && msg.contains("GRPC_XDS_BOOTSTRAP_CONFIG"),
            "{msg}"
        );
    }
}

#[cfg(unix)]
#[test]
fn inline_config_must_be_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let err = Bootstrap::from_env_values(None, Some(OsStr::from_bytes(b"{\xff}"))).unwrap_err();
    assert!(matches!(err, BootstrapError::ConfigNotUtf8), "{err:?}");
}

#[test]
fn bootstraps_built_in_code_validate() {
    let good = Bootstrap::new(
        XdsServer::insecure("cp:1").with_feature("xds_v3"),
        Node::new("n"),
    )
    .with_fallback(
        XdsServer::insecure("cp:2").with_channel_creds(ChannelCreds::tls(Some("/ca.pem".into()))),
    )
    .with_authority(
        "a.example",
        Authority::new("a.example").with_xds_servers(vec![XdsServer::insecure("a:1")]),
    )
    .with_certificate_provider(
        "default",
        CertificateProvider {
            plugin_name: "file_watcher".into(),
            config: json!({}),
        },
    );
    assert_eq!(good.validate().map_err(|e| e.to_string()), Ok(()));

    let mut no_servers = good.clone();
    no_servers.xds_servers.clear();
    let msg = no_servers.validate().unwrap_err().to_string();
    assert!(
        msg.starts_with("invalid gRPC xDS bootstrap built in code: at `xds_servers`"),
        "{msg}"
    );

    let bad_template = good
        .clone()
        .with_authority("b", Authority::new("a.example"));
    let err = bad_template.validate().unwrap_err();
    assert_eq!(
        err.field(),
        Some("authorities[\"b\"].client_listener_resource_name_template")
    );

    let half_mtls = ChannelCreds::Tls {
        ca_certificate_file: None,
        certificate_file: Some("/c".into()),
        private_key_file: None,
        refresh_interval: DEFAULT_TLS_REFRESH_INTERVAL,
    };
    let bad_tls = good
        .clone()
        .with_fallback(XdsServer::insecure("cp:3").with_channel_creds(half_mtls));
    assert_eq!(
        bad_tls.validate().unwrap_err().field(),
        Some("xds_servers[2].channel_creds.config.private_key_file")
    );

    let google = good
        .with_fallback(XdsServer::insecure("cp:4").with_channel_creds(ChannelCreds::GoogleDefault));
    assert_eq!(
        google.validate().unwrap_err().field(),
        Some("xds_servers[2].channel_creds")
    );
}
