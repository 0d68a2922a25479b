//! Meshwork examples and developer tools.
//!
//! - [`demo`]: the demo mesh (binary `meshwork-demo`): control plane, backends and a client
//!   generating traffic through the SDK, in one process.
//! - [`greeter`]: the `helloworld.Greeter` backend (binary `greeter-server`) with steerable latency,
//!   errors, hangs and health, used by the demo and the end-to-end tests.
//! - [`interop`]: gRPC's xDS interop test server and client (binaries `xds-interop-server`,
//!   `xds-interop-client`), driven by gRPC's cross-language xDS test framework.
//! - [`xds_server`]: `meshwork-xds`, a small xDS control plane that serves a mesh described in a YAML
//!   or JSON file. The binary wraps this module; the end-to-end tests drive it in-process.

pub mod demo;
pub mod greeter;
pub mod interop;
pub mod xds_server;
