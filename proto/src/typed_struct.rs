//! `xds.type.v3.TypedStruct` (and its older twin `udpa.type.v1.TypedStruct`), hand-written because
//! `envoy-types` does not ship it.
//!
//! A TypedStruct carries a custom extension's config as a `google.protobuf.Struct` plus the
//! config's own type URL; gRFC A52 uses it for custom load-balancing policies. Field numbers follow
//! cncf/xds `xds/type/v3/typed_struct.proto`: `type_url = 1`, `value = 2`.

use crate::google::protobuf::Struct;

/// Type URL of `xds.type.v3.TypedStruct`.
pub const XDS_TYPED_STRUCT: &str = "type.googleapis.com/xds.type.v3.TypedStruct";
/// Type URL of `udpa.type.v1.TypedStruct` (same wire shape).
pub const UDPA_TYPED_STRUCT: &str = "type.googleapis.com/udpa.type.v1.TypedStruct";

/// `xds.type.v3.TypedStruct`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypedStruct {
    /// Type URL of the config the struct encodes, e.g. `type.googleapis.com/meshwork.lb.PeakEwma`.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The config in its JSON-like form.
    #[prost(message, optional, tag = "2")]
    pub value: Option<Struct>,
}

impl prost::Name for TypedStruct {
    const NAME: &'static str = "TypedStruct";
    const PACKAGE: &'static str = "xds.type.v3";

    fn full_name() -> String {
        "xds.type.v3.TypedStruct".to_owned()
    }

    fn type_url() -> String {
        XDS_TYPED_STRUCT.to_owned()
    }
}
