//! Upstream TLS from a cluster's `transport_socket` (`UpstreamTlsContext`), as gRFC A29 allows it:
//! certificates come only from certificate-provider instances named in the bootstrap, and SANs are
//! checked with `match_subject_alt_names`.
//!
//! Both the current fields (`tls_certificate_provider_instance`,
//! `validation_context.ca_certificate_provider_instance`) and the deprecated ones Istio still sends
//! (`tls_certificate_certificate_provider_instance`, `combined_validation_context` with
//! `validation_context_certificate_provider_instance`) are accepted. Inline certificates, SDS,
//! custom validators/handshakers, SPKI/hash pinning and CRLs are rejected. Loading certificates and
//! the handshake itself are not done here.

use std::collections::BTreeSet;

use meshwork_proto::envoy::config::core::v3::{TransportSocket, transport_socket::ConfigType};
use meshwork_proto::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, UpstreamTlsContext,
    common_tls_context::ValidationContextType,
};
use meshwork_proto::google::protobuf::Any;

use crate::xds::resource::common::{At, Invalid, Result, StringMatcher, unpack};

/// A certificate from a bootstrap certificate-provider instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateProvider {
    /// The instance name (a key of the bootstrap `certificate_providers`).
    pub instance_name: String,
    /// Which certificate of that instance (plugin specific; often empty).
    pub certificate_name: String,
}

/// A validated upstream TLS config.
#[derive(Clone, Debug, PartialEq)]
pub struct UpstreamTls {
    /// Roots used to verify the server.
    pub root: CertificateProvider,
    /// The client's identity certificate, for mTLS.
    pub identity: Option<CertificateProvider>,
    /// Acceptable server SANs (any one matching suffices); empty = any.
    pub subject_alt_names: Vec<StringMatcher>,
    /// SNI to send (may be empty).
    pub sni: String,
}

/// Decodes a cluster's `transport_socket`; `Ok(None)` for plaintext (`raw_buffer` or unset config).
pub fn upstream_tls(
    ts: &TransportSocket,
    providers: &BTreeSet<String>,
) -> Result<Option<UpstreamTls>> {
    let Some(any) = tls_config(ts) else {
        return Ok(None);
    };
    let ctx: UpstreamTlsContext = unpack(any).at("typed_config")?;
    tls_context(&ctx, providers).at("typed_config")
}

#[allow(deprecated)]
fn tls_context(
    ctx: &UpstreamTlsContext,
    providers: &BTreeSet<String>,
) -> Result<Option<UpstreamTls>> {
    let common = ctx
        .common_tls_context
        .as_ref()
        .ok_or_else(|| Invalid::field("common_tls_context", "is required for TLS"))?;
    let identity = common_identity(common, providers)?;
    let (root, subject_alt_names) = match &common.validation_context_type {
        Some(ValidationContextType::ValidationContext(v)) => {
            let root = v
                .ca_certificate_provider_instance
                .as_ref()
                .ok_or_else(|| {
                    Invalid::field(
                        "ca_certificate_provider_instance",
                        "is required: name the bootstrap instance holding the CA roots",
                    )
                })
                .and_then(|p| {
                    provider(&p.instance_name, &p.certificate_name, providers)
                        .at("ca_certificate_provider_instance")
                })
                .at("common_tls_context.validation_context")?;
            (root, sans(v).at("common_tls_context.validation_context")?)
        }
        Some(ValidationContextType::CombinedValidationContext(c)) => {
            let default = c.default_validation_context.as_ref();
            let root = match (
                default.and_then(|d| d.ca_certificate_provider_instance.as_ref()),
                &c.validation_context_certificate_provider_instance,
            ) {
                (Some(p), _) => provider(&p.instance_name, &p.certificate_name, providers)
                    .at("default_validation_context.ca_certificate_provider_instance"),
                (None, Some(p)) => provider(&p.instance_name, &p.certificate_name, providers)
                    .at("validation_context_certificate_provider_instance"),
                (None, None) => Err(Invalid::new("no root certificate provider instance; set default_validation_context.ca_certificate_provider_instance")),
            }
            .at("common_tls_context.combined_validation_context")?;
            let sans = match default {
                Some(d) => sans(d).at(
                    "common_tls_context.combined_validation_context.default_validation_context",
                )?,
                None => Vec::new(),
            };
            (root, sans)
        }
        Some(_) => {
            return unsupported("validation_context_type (SDS or certificate_provider)");
        }
        None => {
            return Err(Invalid::field(
                "common_tls_context",
                "has no validation context; the client needs a root certificate provider instance",
            ));
        }
    };
    Ok(Some(UpstreamTls {
        root,
        identity,
        subject_alt_names,
        sni: ctx.sni.clone(),
    }))
}

pub(crate) fn provider(
    instance: &str,
    certificate: &str,
    providers: &BTreeSet<String>,
) -> Result<CertificateProvider> {
    if !providers.contains(instance) {
        let known: Vec<&str> = providers.iter().map(String::as_str).collect();
        return Err(Invalid::field(
            "instance_name",
            format!(
                "certificate provider instance `{instance}` is not in the bootstrap (known: {known:?}); add it to `certificate_providers`"
            ),
        ));
    }
    Ok(CertificateProvider {
        instance_name: instance.to_string(),
        certificate_name: certificate.to_string(),
    })
}

#[allow(deprecated)]
fn sans(v: &CertificateValidationContext) -> Result<Vec<StringMatcher>> {
    let reject = |field: &str| {
        Err(Invalid::field(
            field,
            "is not supported by gRPC clients; remove it",
        ))
    };
    if !v.verify_certificate_spki.is_empty() {
        return reject("verify_certificate_spki");
    }
    if !v.verify_certificate_hash.is_empty() {
        return reject("verify_certificate_hash");
    }
    if v.require_signed_certificate_timestamp
        .is_some_and(|b| b.value)
    {
        return reject("require_signed_certificate_timestamp");
    }
    if v.crl.is_some() {
        return reject("crl");
    }
    if v.custom_validator_config.is_some() {
        return reject("custom_validator_config");
    }
    v.match_subject_alt_names
        .iter()
        .enumerate()
        .map(|(i, m)| StringMatcher::from_proto(m).at_index("match_subject_alt_names", i))
        .collect()
}

/// The TLS context of a `transport_socket` (upstream or downstream); `None` for plaintext: a
/// `raw_buffer` socket or no typed config.
pub(crate) fn tls_config(ts: &TransportSocket) -> Option<&Any> {
    let Some(ConfigType::TypedConfig(any)) = &ts.config_type else {
        return None;
    };
    let raw = any
        .type_url
        .ends_with("envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer");
    (!raw).then_some(any)
}

/// The checks every `CommonTlsContext` gets (A29: certificates only from provider instances) and
/// its identity certificate, if one is named; shared by upstream and downstream TLS.
#[allow(deprecated)]
pub(crate) fn common_identity(
    common: &CommonTlsContext,
    providers: &BTreeSet<String>,
) -> Result<Option<CertificateProvider>> {
    if !common.tls_certificates.is_empty() {
        return unsupported("tls_certificates");
    }
    if !common.tls_certificate_sds_secret_configs.is_empty() {
        return unsupported("tls_certificate_sds_secret_configs");
    }
    if common.custom_handshaker.is_some() {
        return unsupported("custom_handshaker");
    }
    Ok(
        match (
            &common.tls_certificate_provider_instance,
            &common.tls_certificate_certificate_provider_instance,
        ) {
            (Some(p), _) => Some(
                provider(&p.instance_name, &p.certificate_name, providers)
                    .at("common_tls_context.tls_certificate_provider_instance")?,
            ),
            (None, Some(p)) => Some(
                provider(&p.instance_name, &p.certificate_name, providers)
                    .at("common_tls_context.tls_certificate_certificate_provider_instance")?,
            ),
            (None, None) => None,
        },
    )
}

/// The error for a `common_tls_context` field gRFC A29 does not allow.
pub(crate) fn unsupported<T>(field: &str) -> Result<T> {
    Err(Invalid::field(
        format!("common_tls_context.{field}"),
        "is not supported; certificates must come from certificate provider instances (gRFC A29)",
    ))
}
