//! A cluster's `tls:` block as the Cluster's `transport_socket` (gRFC A29): an
//! `UpstreamTlsContext` whose `CommonTlsContext` names the clients' certificate-provider
//! instances (`tls_certificate_provider_instance` for the identity,
//! `validation_context.ca_certificate_provider_instance` for the roots) and lists the accepted
//! server SANs as exact `match_subject_alt_names`; `sni` when set.

use meshwork_proto::envoy::config::core::v3::{TransportSocket, transport_socket::ConfigType};
use meshwork_proto::envoy::extensions::transport_sockets::tls::v3::{
    CertificateProviderPluginInstance, CertificateValidationContext, CommonTlsContext,
    UpstreamTlsContext, common_tls_context::ValidationContextType,
};
use meshwork_proto::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};

use super::to_any;
use crate::xds_server::mesh::ClusterTls;

/// The transport socket name Envoy and gRPC use for TLS.
pub const TLS_TRANSPORT_SOCKET: &str = "envoy.transport_sockets.tls";

/// The `transport_socket` for `tls`.
// `match_subject_alt_names` is what gRPC reads (A29) and Istio sends, though Envoy deprecated it.
#[allow(deprecated)]
pub(super) fn transport_socket(tls: &ClusterTls) -> TransportSocket {
    let instance = |name: &str| CertificateProviderPluginInstance {
        instance_name: name.to_owned(),
        certificate_name: String::new(),
    };
    let context = UpstreamTlsContext {
        common_tls_context: Some(CommonTlsContext {
            tls_certificate_provider_instance: tls.identity_instance.as_deref().map(instance),
            validation_context_type: Some(ValidationContextType::ValidationContext(
                CertificateValidationContext {
                    ca_certificate_provider_instance: Some(instance(&tls.ca_instance)),
                    match_subject_alt_names: tls
                        .san
                        .iter()
                        .map(|san| StringMatcher {
                            match_pattern: Some(MatchPattern::Exact(san.clone())),
                            ignore_case: false,
                        })
                        .collect(),
                    ..Default::default()
                },
            )),
            ..Default::default()
        }),
        sni: tls.sni.clone().unwrap_or_default(),
        ..Default::default()
    };
    TransportSocket {
        name: TLS_TRANSPORT_SOCKET.to_owned(),
        config_type: Some(ConfigType::TypedConfig(to_any(&context))),
    }
}
