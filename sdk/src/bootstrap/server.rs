//! Parsing `xds_servers` entries: `server_uri`, `channel_creds` (first supported type wins:
//! `insecure` or `tls` per gRFC A65; `google_default` is recognised but unsupported) and
//! `server_features` (gRFC A30, A53, A81, A88).
//!
//! Does not parse `call_creds` (gRFC A97): they are ignored like any unknown field.

use std::time::Duration;

use super::duration::parse_json_duration;
use super::error::BootstrapError;
use super::json::{Cursor, Object};
use super::{ChannelCreds, DEFAULT_TLS_REFRESH_INTERVAL, XdsServer};

/// Channel credential types this client can use, for error messages.
pub(super) const SUPPORTED_CREDS: &str = "`insecure` or `tls`";

/// Parses a list of servers. `allow_empty` is for an authority's list, where empty means "use the
/// top-level servers"; the top-level list must not be empty.
pub(super) fn parse_servers(
    list: &Cursor<'_>,
    allow_empty: bool,
) -> Result<Vec<XdsServer>, BootstrapError> {
    let entries = list.array()?;
    if entries.is_empty() && !allow_empty {
        return Err(list.error(
            "at least one xDS server",
            "add an entry such as {\"server_uri\": \"127.0.0.1:18000\", \"channel_creds\": \
             [{\"type\": \"insecure\"}]}",
        ));
    }
    entries.iter().map(parse_server).collect()
}

fn parse_server(entry: &Cursor<'_>) -> Result<XdsServer, BootstrapError> {
    let server = entry.object()?;
    let uri = server.required(
        "server_uri",
        "the control plane's gRPC target as a string",
        "add \"server_uri\", e.g. \"127.0.0.1:18000\" or \"unix:///etc/istio/proxy/XDS\"",
    )?;
    let server_uri = uri.string()?;
    if server_uri.trim().is_empty() {
        return Err(uri.error(
            "a non-empty gRPC target",
            "set \"server_uri\" to the control plane address, e.g. \"127.0.0.1:18000\"",
        ));
    }
    let creds = server.required(
        "channel_creds",
        "a list of channel credentials",
        "add \"channel_creds\": [{\"type\": \"insecure\"}] (or type \"tls\")",
    )?;
    let channel_creds = parse_channel_creds(&creds)?;
    // Unknown entries, of any JSON type, are ignored (grpc_xds_bootstrap_format.md).
    let server_features = match server.get("server_features") {
        Some(features) => features
            .array()?
            .iter()
            .filter_map(|f| f.value().as_str().map(str::to_string))
            .collect(),
        None => Vec::new(),
    };
    Ok(XdsServer {
        server_uri: server_uri.to_string(),
        channel_creds,
        server_features,
    })
}

/// Picks the first entry whose type this client supports; later entries are not looked at.
fn parse_channel_creds(list: &Cursor<'_>) -> Result<ChannelCreds, BootstrapError> {
    let mut seen = Vec::new();
    for entry in list.array()? {
        let creds = entry.object()?;
        let kind = creds
            .required(
                "type",
                "the credentials type as a string",
                "add \"type\": \"insecure\" or \"type\": \"tls\"",
            )?
            .string()?;
        // Only the chosen type's config is read: other types' configs are theirs to define.
        match kind {
            "insecure" => return Ok(ChannelCreds::Insecure),
            "tls" => {
                let config = creds.get("config").map(|c| c.object()).transpose()?;
                return parse_tls(config.as_ref());
            }
            other => seen.push(format!("{other:?}")),
        }
    }
    let found = if seen.is_empty() {
        "an empty list".to_string()
    } else {
        format!("only the unsupported type(s) {}", seen.join(", "))
    };
    Err(list.error_found(
        &format!("at least one entry of type {SUPPORTED_CREDS}"),
        &found,
        "add {\"type\": \"insecure\"} or {\"type\": \"tls\"}; Meshwork does not support \
         `google_default` or other types",
    ))
}

/// A65 `tls` config: `ca_certificate_file`, `certificate_file` + `private_key_file` (both or
/// neither), `refresh_interval` (JSON Duration, default 600 s).
fn parse_tls(config: Option<&Object<'_>>) -> Result<ChannelCreds, BootstrapError> {
    let Some(config) = config else {
        return Ok(ChannelCreds::tls(None));
    };
    let ca_certificate_file = config
        .opt_string("ca_certificate_file")?
        .map(str::to_string);
    let certificate_file = config.opt_string("certificate_file")?.map(str::to_string);
    let private_key_file = config.opt_string("private_key_file")?.map(str::to_string);
    if let Err((missing, present)) = check_identity_pair(&certificate_file, &private_key_file) {
        return Err(config.error(
            missing,
            &format!("`{missing}` and `{present}` both set or both absent"),
            &format!("only `{present}` is set"),
            &format!("add \"{missing}\" for mutual TLS, or remove \"{present}\" for plain TLS"),
        ));
    }
    let refresh_interval = match config.get("refresh_interval") {
        None => DEFAULT_TLS_REFRESH_INTERVAL,
        Some(field) => {
            let text = field.string()?;
            match parse_json_duration(text).filter(|d| check_refresh(*d)) {
                Some(interval) => interval,
                None => {
                    return Err(field.error(
                        "a positive JSON duration such as \"600s\" or \"0.5s\"",
                        "write seconds with an `s` suffix, or remove the field for the \
                         default of \"600s\"",
                    ));
                }
            }
        }
    };
    Ok(ChannelCreds::Tls {
        ca_certificate_file,
        certificate_file,
        private_key_file,
        refresh_interval,
    })
}

/// `Err((missing, present))` when exactly one of the client certificate and key is set.
pub(super) fn check_identity_pair(
    certificate_file: &Option<String>,
    private_key_file: &Option<String>,
) -> Result<(), (&'static str, &'static str)> {
    match (certificate_file, private_key_file) {
        (Some(_), None) => Err(("private_key_file", "certificate_file")),
        (None, Some(_)) => Err(("certificate_file", "private_key_file")),
        _ => Ok(()),
    }
}

/// Whether a refresh interval is usable: zero would re-read the files without pause.
pub(super) fn check_refresh(interval: Duration) -> bool {
    !interval.is_zero()
}
