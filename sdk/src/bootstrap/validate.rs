//! Checks a [`Bootstrap`] built in code against the rules the JSON parser enforces, so both paths
//! give the ADS client the same guarantees (non-empty `xds_servers`, A65 certificate/key pairing,
//! A47 authority templates).
//!
//! Does not re-check what the types already guarantee, and does not touch the files named.

use super::error::{BootstrapError, BootstrapSource};
use super::json::field_error;
use super::parse::template_fits_authority;
use super::server::{SUPPORTED_CREDS, check_identity_pair, check_refresh};
use super::{Authority, Bootstrap, ChannelCreds, XdsServer};

impl Bootstrap {
    /// Checks a bootstrap built or changed in code; errors name the origin "built in code" and
    /// the JSON path the field would have. Bootstraps read from JSON already passed these checks.
    pub fn validate(&self) -> Result<(), BootstrapError> {
        let origin = BootstrapSource::InCode;
        if self.xds_servers.is_empty() {
            return Err(field_error(
                &origin,
                "xds_servers",
                "at least one xDS server",
                "an empty list",
                "add a server, e.g. `XdsServer::insecure(\"127.0.0.1:18000\")`",
            ));
        }
        check_servers(&origin, "xds_servers", &self.xds_servers)?;
        for (name, authority) in &self.authorities {
            let path = format!("authorities[{name:?}]");
            check_authority(&origin, &path, name, authority)?;
        }
        Ok(())
    }
}

fn check_authority(
    origin: &BootstrapSource,
    path: &str,
    name: &str,
    authority: &Authority,
) -> Result<(), BootstrapError> {
    let template = &authority.client_listener_resource_name_template;
    if !template_fits_authority(name, template) {
        return Err(field_error(
            origin,
            &format!("{path}.client_listener_resource_name_template"),
            &format!("a template starting with `xdstp://{name}/`"),
            &format!("{template:?}"),
            &format!("use `Authority::new({name:?})` for the default template"),
        ));
    }
    check_servers(
        origin,
        &format!("{path}.xds_servers"),
        &authority.xds_servers,
    )
}

fn check_servers(
    origin: &BootstrapSource,
    path: &str,
    servers: &[XdsServer],
) -> Result<(), BootstrapError> {
    for (i, server) in servers.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if server.server_uri.trim().is_empty() {
            return Err(field_error(
                origin,
                &format!("{at}.server_uri"),
                "a non-empty gRPC target",
                "an empty string",
                "set the control plane address, e.g. \"127.0.0.1:18000\"",
            ));
        }
        check_creds(
            origin,
            &format!("{at}.channel_creds"),
            &server.channel_creds,
        )?;
    }
    Ok(())
}

fn check_creds(
    origin: &BootstrapSource,
    path: &str,
    creds: &ChannelCreds,
) -> Result<(), BootstrapError> {
    match creds {
        ChannelCreds::Insecure => Ok(()),
        ChannelCreds::GoogleDefault => Err(field_error(
            origin,
            path,
            &format!("credentials of type {SUPPORTED_CREDS}"),
            "`google_default`",
            "use `ChannelCreds::Insecure` or `ChannelCreds::tls(..)`",
        )),
        ChannelCreds::Tls {
            certificate_file,
            private_key_file,
            refresh_interval,
            ..
        } => {
            if let Err((missing, present)) = check_identity_pair(certificate_file, private_key_file)
            {
                return Err(field_error(
                    origin,
                    &format!("{path}.config.{missing}"),
                    &format!("`{missing}` and `{present}` both set or both unset"),
                    &format!("only `{present}` is set"),
                    &format!("set `{missing}` for mutual TLS, or unset `{present}`"),
                ));
            }
            if !check_refresh(*refresh_interval) {
                return Err(field_error(
                    origin,
                    &format!("{path}.config.refresh_interval"),
                    "a positive interval",
                    "zero",
                    "use `DEFAULT_TLS_REFRESH_INTERVAL` (600 s) or another positive duration",
                ));
            }
            Ok(())
        }
    }
}
