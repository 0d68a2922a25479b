//! Reading `xds.type.v3.TypedStruct` / `udpa.type.v1.TypedStruct` configs (the wire message lives
//! in [`meshwork_proto::typed_struct`]): a config for an extension that has no compiled proto,
//! carried as a JSON-like `Struct` plus the type URL it stands for. Used for custom LB policies
//! (gRFC A52) and to identify filters by their inner type URL (A39).

use meshwork_proto::google::protobuf::{Any, Value, value::Kind};
pub use meshwork_proto::typed_struct::{TypedStruct, UDPA_TYPED_STRUCT, XDS_TYPED_STRUCT};

use super::{Invalid, Result};

/// Decodes `any` when it is a `TypedStruct` of either flavour; `Ok(None)` when it is not one.
pub fn from_any(any: &Any) -> Result<Option<TypedStruct>> {
    if any.type_url != XDS_TYPED_STRUCT && any.type_url != UDPA_TYPED_STRUCT {
        return Ok(None);
    }
    <TypedStruct as prost::Message>::decode(any.value.as_slice())
        .map(Some)
        .map_err(|e| Invalid::new(format!("cannot decode TypedStruct: {e}")))
}

/// The field `name` of the struct, if present.
pub fn field<'a>(ts: &'a TypedStruct, name: &str) -> Option<&'a Kind> {
    ts.value
        .as_ref()
        .and_then(|s| s.fields.get(name))
        .and_then(|v: &Value| v.kind.as_ref())
}

/// The type URL that identifies the config in `any`: the inner one for a `TypedStruct`.
pub fn effective_type_url(any: &Any) -> Result<String> {
    Ok(match from_any(any)? {
        Some(ts) => ts.type_url,
        None => any.type_url.clone(),
    })
}
