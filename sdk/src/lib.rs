//! Meshwork: a proxyless gRPC service mesh for tonic.
//!
//! A service links this crate and gets, in its own process, what a sidecar proxy would otherwise do:
//! xDS-driven routing and client-side load balancing, health checking, resilience and telemetry.
//!
//! This release holds the foundation every later layer stands on:
//! - [`bootstrap`]: the standard gRPC xDS bootstrap (`GRPC_XDS_BOOTSTRAP`, `GRPC_XDS_BOOTSTRAP_CONFIG`, or
//!   built in code);
//! - [`xds`]: an xDS v3 ADS client (state of the world) with a sans-io protocol core, validated
//!   resource types and a config dump;
//! - [`resolver`]: follows LDS → RDS → CDS → EDS for a target and publishes complete, consistent
//!   snapshots (gRFC A74);
//! - [`telemetry`]: gRFC A66 metrics, spans with W3C propagation, OTLP and Prometheus export.
#![warn(missing_docs)]

pub mod balancer;
pub mod bootstrap;
pub mod health;
pub mod resilience;
pub mod resolver;
pub mod route;
pub mod telemetry;
pub mod xds;
