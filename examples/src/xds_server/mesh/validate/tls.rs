//! Checks of a cluster's `tls:` block (gRFC A29 upstream TLS): the instance names a client looks
//! up in its bootstrap, the SANs it accepts and the SNI it sends must be non-empty text. Whether
//! the instances exist is the client's business (it NACKs a Cluster naming an unknown one).

use super::super::model::ClusterTls;
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
}
