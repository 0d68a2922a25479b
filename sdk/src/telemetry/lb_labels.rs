//! Optional per-attempt labels (gRFC A79 "optional labels", recorded only when enabled):
//! `grpc.lb.locality` (A78 format `{region="R", zone="Z", sub_zone="S"}`) and
//! `grpc.lb.backend_service` (the xDS cluster name, A89) on `grpc.client.attempt.duration` and
//! the two attempt size histograms.
//!
//! The locality is known only after the pick, below the attempt layer. When an optional label
//! is enabled, the attempt layer puts an empty [`LbLabelSlot`] into the request extensions; the
//! pick layer fills it with the picked endpoint's precomputed [`LbLabels`] (an `Arc` clone); the
//! attempt layer reads it when the attempt ends. With every optional label off (the default) no
//! slot is made and nothing is looked up, so the default path pays nothing.

use std::sync::{Arc, OnceLock};

use opentelemetry::{KeyValue, Value};

use super::names::{ATTR_BACKEND_SERVICE, ATTR_LOCALITY};

/// An optional attempt label to record ([`TelemetryBuilder::optional_label`](super::TelemetryBuilder::optional_label)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionalLabel {
    /// `grpc.lb.locality`: the picked endpoint's locality.
    Locality,
    /// `grpc.lb.backend_service`: the picked endpoint's cluster (gRFC A89).
    BackendService,
    /// `grpc.disconnect_error` on `grpc.subchannel.disconnections` (gRFC A94): why the
    /// connection ended. Only that instrument has it.
    DisconnectError,
    /// `grpc.security_level` on `grpc.subchannel.open_connections` (gRFC A94): `none` for
    /// plaintext connections, `privacy_and_integrity` for TLS. Only that instrument has it.
    SecurityLevel,
}

/// Which optional labels are on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OptionalLabels {
    pub(crate) locality: bool,
    pub(crate) backend_service: bool,
    pub(crate) disconnect_error: bool,
    pub(crate) security_level: bool,
}

/// The optional-label values of one endpoint, built once per endpoint set by the channel.
#[derive(Debug, Clone, PartialEq)]
pub struct LbLabels {
    locality: Value,
    backend_service: Value,
}

/// The slot the pick layer fills with the picked endpoint's [`LbLabels`] (a request extension).
#[derive(Debug, Clone, Default)]
pub struct LbLabelSlot(Arc<OnceLock<Arc<LbLabels>>>);

impl OptionalLabels {
    pub(crate) fn enable(&mut self, label: OptionalLabel) {
        match label {
            OptionalLabel::Locality => self.locality = true,
            OptionalLabel::BackendService => self.backend_service = true,
            OptionalLabel::DisconnectError => self.disconnect_error = true,
            OptionalLabel::SecurityLevel => self.security_level = true,
        }
    }

    pub(crate) fn any(self) -> bool {
        self.locality || self.backend_service
    }

    /// The enabled labels of `lb`, after the three required attributes.
    pub(crate) fn attributes(self, lb: &LbLabels) -> Vec<KeyValue> {
        let mut out = Vec::with_capacity(2);
        if self.locality {
            out.push(KeyValue::new(ATTR_LOCALITY, lb.locality.clone()));
        }
        if self.backend_service {
            out.push(KeyValue::new(
                ATTR_BACKEND_SERVICE,
                lb.backend_service.clone(),
            ));
        }
        out
    }
}

impl LbLabels {
    /// Labels of an endpoint of `cluster` in locality (`region`, `zone`, `sub_zone`).
    pub fn new(cluster: &str, region: &str, zone: &str, sub_zone: &str) -> Self {
        LbLabels {
            locality: Value::from(locality_value(region, zone, sub_zone)),
            backend_service: Value::from(cluster.to_owned()),
        }
    }

    /// The `grpc.lb.locality` value.
    pub fn locality(&self) -> &Value {
        &self.locality
    }

    /// The `grpc.lb.backend_service` value.
    pub fn backend_service(&self) -> &Value {
        &self.backend_service
    }
}

impl LbLabelSlot {
    /// Records the picked endpoint's labels (the first fill wins).
    pub fn fill(&self, labels: &Arc<LbLabels>) {
        let _ = self.0.set(labels.clone());
    }

    /// The labels, if the pick happened.
    pub fn get(&self) -> Option<&Arc<LbLabels>> {
        self.0.get()
    }
}

/// `{region="R", zone="Z", sub_zone="S"}` (gRFC A78's locality label format).
pub fn locality_value(region: &str, zone: &str, sub_zone: &str) -> String {
    format!("{{region=\"{region}\", zone=\"{zone}\", sub_zone=\"{sub_zone}\"}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locality_uses_the_a78_format_and_only_enabled_labels_are_recorded() {
        assert_eq!(
            locality_value("us-east1", "us-east1-b", "rack7"),
            r#"{region="us-east1", zone="us-east1-b", sub_zone="rack7"}"#
        );
        let lb = LbLabels::new("greeter-v1", "r", "z", "");
        let mut on = OptionalLabels::default();
        assert!(!on.any());
        on.enable(OptionalLabel::Locality);
        let attrs = on.attributes(&lb);
        assert_eq!(attrs.len(), 1);
        assert_eq!(attrs[0].key.as_str(), ATTR_LOCALITY);
        assert_eq!(
            attrs[0].value.as_str(),
            r#"{region="r", zone="z", sub_zone=""}"#
        );
        on.enable(OptionalLabel::BackendService);
        let attrs = on.attributes(&lb);
        assert_eq!(attrs[1].key.as_str(), ATTR_BACKEND_SERVICE);
        assert_eq!(attrs[1].value.as_str(), "greeter-v1");
    }

    #[test]
    fn a_slot_keeps_its_first_fill() {
        let slot = LbLabelSlot::default();
        assert!(slot.get().is_none());
        let copy = slot.clone();
        copy.fill(&Arc::new(LbLabels::new("a", "", "", "")));
        copy.fill(&Arc::new(LbLabels::new("b", "", "", "")));
        let got = slot
            .get()
            .map(|l| l.backend_service().as_str().into_owned());
        assert_eq!(got.as_deref(), Some("a"));
    }
}
