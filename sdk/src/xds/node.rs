//! The `Node` this client sends on the first request of every ADS stream (Envoy xDS protocol
//! "Node"; gRFC A27 client features).
//!
//! Turns the bootstrap's [`Node`](crate::bootstrap::Node) into the wire message and fills what the
//! client itself owns: `user_agent_name`, `user_agent_version` and `client_features`. Does not
//! decide when the node is sent; the protocol core does.

use meshwork_proto::envoy::config::core::v3 as core_pb;
use meshwork_proto::google::protobuf::{ListValue, NullValue, Struct, Value, value::Kind};

use crate::bootstrap;

/// `user_agent_name` this client reports.
pub const USER_AGENT_NAME: &str = "meshwork";

/// Client features every Meshwork node advertises.
pub const CLIENT_FEATURES: [&str; 2] = [
    // Localities' overprovisioning factor is ignored (gRFC A27).
    "envoy.lb.does_not_support_overprovisioning",
    // Resources may be wrapped in `envoy.service.discovery.v3.Resource` in SotW responses.
    "xds.config.resource-in-sotw",
];

/// The wire `Node` for a bootstrap node.
pub fn node_proto(node: &bootstrap::Node) -> core_pb::Node {
    core_pb::Node {
        id: node.id.clone(),
        cluster: node.cluster.clone(),
        metadata: (!node.metadata.is_empty()).then(|| json_object_to_struct(&node.metadata)),
        locality: node.locality.as_ref().map(|l| core_pb::Locality {
            region: l.region.clone(),
            zone: l.zone.clone(),
            sub_zone: l.sub_zone.clone(),
        }),
        user_agent_name: USER_AGENT_NAME.to_string(),
        user_agent_version_type: Some(core_pb::node::UserAgentVersionType::UserAgentVersion(
            env!("CARGO_PKG_VERSION").to_string(),
        )),
        client_features: CLIENT_FEATURES.iter().map(|f| f.to_string()).collect(),
        ..Default::default()
    }
}

/// A JSON object as a `google.protobuf.Struct`.
pub fn json_object_to_struct(map: &serde_json::Map<String, serde_json::Value>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), json_to_value(v)))
            .collect(),
    }
}

fn json_to_value(v: &serde_json::Value) -> Value {
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(NullValue::NullValue as i32),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(a) => Kind::ListValue(ListValue {
            values: a.iter().map(json_to_value).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(json_object_to_struct(o)),
    };
    Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_carries_identity_locality_metadata_and_client_features() {
        let mut metadata = serde_json::Map::new();
        metadata.insert("GENERATOR".into(), "grpc".into());
        metadata.insert("PORTS".into(), serde_json::json!([80, 443]));
        let node = bootstrap::Node {
            id: "n1".into(),
            cluster: "greeter".into(),
            locality: Some(bootstrap::Locality {
                zone: "z1".into(),
                ..Default::default()
            }),
            metadata,
        };
        let p = node_proto(&node);
        assert_eq!(p.id, "n1");
        assert_eq!(p.cluster, "greeter");
        assert_eq!(p.locality.as_ref().map(|l| l.zone.as_str()), Some("z1"));
        assert_eq!(p.user_agent_name, "meshwork");
        assert!(matches!(
            p.user_agent_version_type,
            Some(core_pb::node::UserAgentVersionType::UserAgentVersion(ref v)) if !v.is_empty()
        ));
        assert_eq!(p.client_features, CLIENT_FEATURES);
        let md = p.metadata.unwrap_or_default();
        assert_eq!(
            md.fields.get("GENERATOR").and_then(|v| v.kind.clone()),
            Some(Kind::StringValue("grpc".into()))
        );
        assert!(matches!(
            md.fields.get("PORTS").and_then(|v| v.kind.clone()),
            Some(Kind::ListValue(l)) if l.values.len() == 2
        ));
    }
}
