//! gRPC's xDS interop test protocol for Meshwork: the server and client that gRPC's cross-language
//! xDS test framework (grpc/psm-interop, grpc/grpc `doc/xds-test-descriptions.md`) drives through
//! `grpc.testing` services only, so the framework runs against Meshwork unchanged.
//!
//! - [`server`]: `xds-interop-server`: `TestService` (with the `rpc-behavior` metadata language,
//!   see [`behavior`]; streaming methods in [`streaming`]), `grpc.health.v1.Health` and
//!   `XdsUpdateHealthService`.
//! - [`client`]: `xds-interop-client`: sends `UnaryCall` / `EmptyCall` at a fixed rate through a
//!   Meshwork channel for an `xds:///` target and records where each RPC went ([`stats`]); its
//!   stats port serves `LoadBalancerStatsService`, `XdsUpdateClientConfigureService`
//!   ([`stats_service`]), CSDS ([`csds`]) and health.
//!
//! Not covered: secure mode (xDS credentials), channelz, reflection, the hook service, ORCA,
//! and CSM observability.

pub mod behavior;
pub mod client;
pub mod csds;
pub mod flags;
pub mod server;
pub mod stats;
pub mod stats_service;
pub mod streaming;
