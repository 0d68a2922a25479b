//! The xDS v3 client: one ADS stream per control plane, shared by every channel of the process.
//!
//! The protocol state (subscriptions, versions, nonces, ACK/NACK, does-not-exist timers, the resource
//! cache) is a sans-io core ([`core`]) tested with plain tests; the socket is a thin async shell
//! around it ([`XdsClient`], with the stream task in `transport`). Watchers follow gRFC A88:
//! [`WatchEvent::Changed`], [`WatchEvent::DoesNotExist`], [`WatchEvent::Error`] and
//! [`WatchEvent::AmbientError`]. [`XdsClient::config_dump`] gives the per-resource state CSDS needs.
//!
//! Implements Envoy's "xDS REST and gRPC protocol" (state of the world, ADS) and gRFCs A27, A46,
//! A57 and A88. Not done: delta xDS, federation (A47), fallback to later `xds_servers` (A71), TLS
//! toward the control plane (A65), xRFC TP3 per-resource errors.

pub mod backoff;
mod channel;
pub mod client;
pub mod core;
pub mod dump;
pub mod error;
pub mod event;
pub mod node;
pub mod resource;
mod transport;

#[cfg(test)]
pub(crate) mod test_fixtures;
#[cfg(test)]
pub(crate) mod test_server;

pub use backoff::BackoffConfig;
pub use client::{ClientOptions, ConnectionState, ConnectionStatus, ResourceWatcher, XdsClient};
pub use dump::{ConfigDump, ResourceDump, ResourceStatus, UpdateFailure};
pub use error::{ClientError, WatchError};
pub use event::WatchEvent;
