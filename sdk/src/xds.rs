//! The xDS v3 client: one ADS stream per control plane, shared by every channel of the process.
//!
//! The protocol state (subscriptions, versions, nonces, ACK/NACK, does-not-exist timers, the resource
//! cache) is a sans-io core tested with plain tests; the socket is a thin async shell around it.

pub mod resource;
