//! Protocol types used across Meshwork.
//!
//! The xDS v3 messages (Envoy's data-plane API) come pre-generated from `envoy-types`, which is
//! isolated in this crate so the ~90k lines of generated code compile once per workspace. Meshwork's
//! own protos live here too: the admin API ([`admin`]) and the examples' greeter.
//!
//! `envoy-types` ships its own well-known types (`google.protobuf.Any`, `Duration`, ...); everything in
//! Meshwork uses those, converting only at the boundary with crates that use `prost-types`.

pub mod typed_struct;

pub use envoy_types;
pub use envoy_types::pb::envoy;
pub use envoy_types::pb::google;

/// Type URLs of the four xDS resource types a gRPC client follows (gRFC A27).
pub mod type_url {
    /// `envoy.config.listener.v3.Listener` (LDS).
    pub const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
    /// `envoy.config.route.v3.RouteConfiguration` (RDS).
    pub const ROUTE_CONFIGURATION: &str =
        "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
    /// `envoy.config.cluster.v3.Cluster` (CDS).
    pub const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
    /// `envoy.config.endpoint.v3.ClusterLoadAssignment` (EDS).
    pub const CLUSTER_LOAD_ASSIGNMENT: &str =
        "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
    /// `envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`.
    pub const HTTP_CONNECTION_MANAGER: &str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
    /// `envoy.extensions.filters.http.fault.v3.HTTPFault`.
    pub const HTTP_FAULT: &str =
        "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
    /// `envoy.extensions.filters.http.router.v3.Router`.
    pub const ROUTER: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
    /// `envoy.service.discovery.v3.Resource` (a wrapper servers may use around each resource).
    pub const RESOURCE_WRAPPER: &str = "type.googleapis.com/envoy.service.discovery.v3.Resource";
}

/// The greeter service of the examples and end-to-end tests (`helloworld.Greeter`).
pub mod helloworld {
    #![allow(missing_docs, clippy::all, clippy::unwrap_used, clippy::expect_used)]
    tonic::include_proto!("helloworld");
}

/// Meshwork's admin API (`meshwork.admin.v1`): process info, live snapshots, the event stream,
/// the xDS config dump and runtime fault rules. Server and client are generated.
pub mod admin {
    /// Version 1.
    pub mod v1 {
        #![allow(missing_docs, clippy::all, clippy::unwrap_used, clippy::expect_used)]
        tonic::include_proto!("meshwork.admin.v1");
    }
}

/// gRPC's interop test protocol (`grpc.testing`): `TestService`, `XdsUpdateHealthService`,
/// `LoadBalancerStatsService`, `XdsUpdateClientConfigureService` and their messages, wire-compatible
/// with gRPC's cross-language xDS interop framework. Servers and clients are generated.
pub mod grpc_testing {
    #![allow(missing_docs, clippy::all, clippy::unwrap_used, clippy::expect_used)]
    tonic::include_proto!("grpc.testing");
}

/// gRPC channelz v1 (gRFC A14): `grpc.channelz.v1.Channelz`, the subset Meshwork serves.
pub mod channelz {
    /// Version 1.
    pub mod v1 {
        #![allow(missing_docs, clippy::all, clippy::unwrap_used, clippy::expect_used)]
        tonic::include_proto!("grpc.channelz.v1");
    }
}

/// Encoded `FileDescriptorSet` of Meshwork's own protos (for server reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("meshwork_descriptor");
