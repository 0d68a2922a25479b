//! Checks of a cluster's `tls:` block (gRFC A29 upstream TLS): the instance names a client looks
//! up in its bootstrap, the SANs it accepts and the SNI it sends must be non-empty text. Whether
//! the instances exist is the client's business (it NACKs a Cluster naming an unknown one).
//! Also a server listener's address and `tls:` block (A36, A29 downstream TLS): an `ip:port`,
//! an identity instance, and a CA instance whenever client certificates are required.

use std::net::SocketAddr;

use super::super::model::{ClusterTls, ServerListener};
use super::Validator;

impl Validator {
    pub(super) fn tls(&mut self, at: &str, t: &ClusterTls) {
        if t.ca_instance.trim().is_empty() {
            self.push(
                format!("{at}.tls.ca_instance"),
                "ca_instance",
                "tls.ca_instance must name the clients' certificate-provider instance holding the CA (e.g. `default`)".into(),
            );
        }
        if t.identity_instance
            .as_ref()
            .is_some_and(|i| i.trim().is_empty())
        {
            self.push(
                format!("{at}.tls.identity_instance"),
                "identity_instance",
                "tls.identity_instance must not be empty; remove it for TLS without a client certificate".into(),
            );
        }
        if let Some(i) = t.san.iter().position(|san| san.trim().is_empty()) {
            self.push(
                format!("{at}.tls.san[{i}]"),
                "san",
                "tls.san entries must be non-empty SANs (e.g. `spiffe://cluster.local/ns/default/sa/greeter`)".into(),
            );
        }
        if t.sni.as_ref().is_some_and(|s| s.trim().is_empty()) {
            self.push(
                format!("{at}.tls.sni"),
                "sni",
                "tls.sni must not be empty; remove it to send no SNI".into(),
            );
        }
    }

    pub(super) fn server_listener(&mut self, at: &str, s: &ServerListener) {
        if s.address.parse::<SocketAddr>().is_err() {
            self.push(
                format!("{at}.address"),
                &s.address,
                format!("server listener address `{}` is not an `ip:port`; use the exact address the server binds, e.g. `0.0.0.0:8080`", s.address),
            );
        }
        if s.name.as_ref().is_some_and(|n| n.trim().is_empty()) {
            self.push(
                format!("{at}.name"),
                "name",
                "server listener name must not be empty; remove it to use the default template"
                    .into(),
            );
        }
        let Some(t) = &s.tls else { return };
        if t.identity_instance.trim().is_empty() {
            self.push(
                format!("{at}.tls.identity_instance"),
                "identity_instance",
                "tls.identity_instance must name the server's certificate-provider instance holding its certificate and key (e.g. `default`)".into(),
            );
        }
        match &t.ca_instance {
            Some(ca) if ca.trim().is_empty() => self.push(
                format!("{at}.tls.ca_instance"),
                "ca_instance",
                "tls.ca_instance must not be empty; remove it to not ask clients for certificates".into(),
            ),
            None if t.require_client_certificate => self.push(
                format!("{at}.tls.require_client_certificate"),
                "require_client_certificate",
                "tls.require_client_certificate needs tls.ca_instance to verify client certificates; add one".into(),
            ),
            _ => {}
        }
    }
}
