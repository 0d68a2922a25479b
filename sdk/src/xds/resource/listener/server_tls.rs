//! Downstream TLS from a server filter chain's `transport_socket` (`DownstreamTlsContext`), as
//! gRFC A29 allows it on xDS-enabled servers (A36): the server's identity certificate must come
//! from a bootstrap certificate-provider instance; a CA instance for client certificates is
//! optional; `require_client_certificate` (mTLS) needs that CA.
//!
//! Rejected (NACK): inline certificates, SDS, custom handshakers, `require_sni`, an OCSP staple
//! policy other than lenient, and a CA given any other way than a provider instance. Server-side
//! `match_subject_alt_names` is ignored, as gRPC servers do (authorization is RBAC's job).

use std::collections::BTreeSet;

use meshwork_proto::envoy::config::core::v3::TransportSocket;
use meshwork_proto::envoy::extensions::transport_sockets::tls::v3::{
    DownstreamTlsContext, common_tls_context::ValidationContextType,
    downstream_tls_context::OcspStaplePolicy,
};

use crate::xds::resource::cluster::CertificateProvider;
use crate::xds::resource::cluster::tls::{common_identity, provider, tls_config, unsupported};
use crate::xds::resource::common::{At, Invalid, Result, unpack};

/// A validated downstream (server-side) TLS config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownstreamTls {
    /// The server's certificate and key.
    pub identity: CertificateProvider,
    /// Roots used to verify client certificates; `None` = clients are not asked for one.
    pub client_ca: Option<CertificateProvider>,
    /// Clients must present a certificate that chains to `client_ca` (mTLS).
    pub require_client_certificate: bool,
}

/// Decodes a filter chain's `transport_socket`; `Ok(None)` for plaintext (`raw_buffer` or no
/// config).
pub fn downstream_tls(
    ts: &TransportSocket,
    providers: &BTreeSet<String>,
) -> Result<Option<DownstreamTls>> {
    let Some(any) = tls_config(ts) else {
        return Ok(None);
    };
    let ctx: DownstreamTlsContext = unpack(any).at("typed_config")?;
    tls_context(&ctx, providers).map(Some).at("typed_config")
}

#[allow(deprecated)]
fn tls_context(ctx: &DownstreamTlsContext, providers: &BTreeSet<String>) -> Result<DownstreamTls> {
    if ctx.require_sni.is_some_and(|b| b.value) {
        return Err(Invalid::field(
            "require_sni",
            "is not supported by gRPC servers; remove it",
        ));
    }
    if ctx.ocsp_staple_policy != OcspStaplePolicy::LenientStapling as i32 {
        return Err(Invalid::field(
            "ocsp_staple_policy",
            format!(
                "is {}; gRPC servers support only LENIENT_STAPLING",
                ctx.ocsp_staple_policy
            ),
        ));
    }
    let common = ctx
        .common_tls_context
        .as_ref()
        .ok_or_else(|| Invalid::field("common_tls_context", "is required for TLS"))?;
    let identity = common_identity(common, providers)?.ok_or_else(|| {
        Invalid::field(
            "common_tls_context.tls_certificate_provider_instance",
            "is required: a server needs an identity certificate; name the bootstrap instance holding it",
        )
    })?;
    let client_ca = match &common.validation_context_type {
        None => None,
        Some(ValidationContextType::ValidationContext(v)) => {
            match &v.ca_certificate_provider_instance {
                Some(p) => Some(
                    provider(&p.instance_name, &p.certificate_name, providers).at(
                        "common_tls_context.validation_context.ca_certificate_provider_instance",
                    )?,
                ),
                None => {
                    return unsupported(
                        "validation_context without ca_certificate_provider_instance",
                    );
                }
            }
        }
        Some(ValidationContextType::CombinedValidationContext(c)) => {
            let default = c
                .default_validation_context
                .as_ref()
                .and_then(|d| d.ca_certificate_provider_instance.as_ref());
            match (default, &c.validation_context_certificate_provider_instance) {
                (Some(p), _) => Some(provider(&p.instance_name, &p.certificate_name, providers).at(
                    "common_tls_context.combined_validation_context.default_validation_context.ca_certificate_provider_instance",
                )?),
                (None, Some(p)) => Some(provider(&p.instance_name, &p.certificate_name, providers).at(
                    "common_tls_context.combined_validation_context.validation_context_certificate_provider_instance",
                )?),
                (None, None) => None,
            }
        }
        Some(_) => return unsupported("validation_context_type (SDS or certificate_provider)"),
    };
    let require_client_certificate = ctx.require_client_certificate.is_some_and(|b| b.value);
    if require_client_certificate && client_ca.is_none() {
        return Err(Invalid::field(
            "require_client_certificate",
            "is true but there is no CA to verify client certificates; set common_tls_context.validation_context.ca_certificate_provider_instance",
        ));
    }
    Ok(DownstreamTls {
        identity,
        client_ca,
        require_client_certificate,
    })
}
