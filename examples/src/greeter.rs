//! The greeter backend of the examples, the demo and the end-to-end tests: a real tonic
//! `helloworld.Greeter` server whose misbehaviour is steerable at runtime.
//!
//! - [`GreeterBackend`] answers `SayHello` / `SayHelloStream` with replies naming the backend
//!   ("Hello {name} from {backend}"), and counts what it served ([`Served`]).
//! - [`Behavior`] steers it: fixed latency, a seeded error rate, "fail the next N", "succeed on
//!   attempt k", hang. Per-call overrides come from `rpc-behavior` metadata, modelled on the gRPC
//!   xDS interop server (grammar in [`rpc_behavior`]).
//! - [`HealthHandle`] flips its `grpc.health.v1` status (gRFC A17 health checks).
//! - [`serve`] runs it on a socket; [`RunningGreeter`] stops it gracefully or like a crash.
//!
//! Metadata a client may send: [`RPC_BEHAVIOR`], [`REQUEST_ID`], [`PREVIOUS_ATTEMPTS`] (gRFC A6),
//! [`STREAM_COUNT`], [`STREAM_INTERVAL_MS`]. This module is test and demo equipment: apart from
//! the optional server layer of [`serve_layered`] it does not use the Meshwork SDK, so it can
//! judge the SDK from the outside.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use meshwork_examples::greeter::{GreeterBackend, HealthHandle, serve};
//! let backend = GreeterBackend::new("b0");
//! backend.behavior().set_error_rate(0.1, tonic::Code::Unavailable);
//! let health = HealthHandle::new().await;
//! let running = serve("127.0.0.1:50051".parse()?, backend.clone(), &health).await?;
//! health.set_serving(false).await;
//! running.stop().await;
//! # Ok(()) }
//! ```

mod behavior;
mod health;
pub mod rpc_behavior;
mod serve;
mod served;
mod service;
mod severable;

pub use behavior::{Behavior, CallInfo, End, Plan};
pub use health::{GREETER_SERVICE, HealthHandle};
pub use serve::{RunningGreeter, ServeError, serve, serve_layered};
pub use served::{CallGuard, Served};
pub use service::{
    DEFAULT_STREAM_COUNT, DEFAULT_STREAM_INTERVAL, GreeterBackend, PREVIOUS_ATTEMPTS, REQUEST_ID,
    RPC_BEHAVIOR, ReplyStream, STREAM_COUNT, STREAM_INTERVAL_MS,
};
pub use severable::Severable;
