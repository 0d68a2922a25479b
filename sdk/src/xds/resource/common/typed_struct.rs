//! `xds.type.v3.TypedStruct` (and its older twin `udpa.type.v1.TypedStruct`): a config for an
//! extension that has no compiled proto, carried as a JSON-like `Struct` plus the type URL it stands
//! for. `envoy-types` does not ship it, so it is declared here by hand (field numbers from
//! `xds/type/v3/typed_struct.proto`). Used for custom LB policies (gRFC A52).

use meshwork_proto::google::protobuf::{Any, Struct, Value, value::Kind};

use super::{Invalid, Result};

/// Type URL of `xds.type.v3.TypedStruct`.
pub const XDS_TYPED_STRUCT: &str = "type.googleapis.com/xds.type.v3.TypedStruct";
/// Type URL of `udpa.type.v1.TypedStruct`.
pub const UDPA_TYPED_STRUCT: &str = "type.googleapis.com/udpa.type.v1.TypedStruct";

/// The wire message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypedStruct {
    /// The type URL of the config this struct stands for.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The config as a JSON-like struct.
    #[prost(message, optional, tag = "2")]
    pub value: Option<Struct>,
}

impl TypedStruct {
    /// Decodes `any` when it is a `TypedStruct` of either flavour; `Ok(None)` when it is not one.
    pub fn from_any(any: &Any) -> Result<Option<Self>> {
        if any.type_url != XDS_TYPED_STRUCT && any.type_url != UDPA_TYPED_STRUCT {
            return Ok(None);
        }
        <TypedStruct as prost::Message>::decode(any.value.as_slice())
            .map(Some)
            .map_err(|e| Invalid::new(format!("cannot decode TypedStruct: {e}")))
    }

    /// The field `name` of the struct, if present.
    pub fn field(&self, name: &str) -> Option<&Kind> {
        self.value
            .as_ref()
            .and_then(|s| s.fields.get(name))
            .and_then(|v: &Value| v.kind.as_ref())
    }
}

/// The type URL that identifies the config in `any`: the inner one for a `TypedStruct`.
pub fn effective_type_url(any: &Any) -> Result<String> {
    Ok(match TypedStruct::from_any(any)? {
        Some(ts) => ts.type_url,
        None => any.type_url.clone(),
    })
}
