//! Meshwork examples and developer tools.
//!
//! - [`xds_server`]: `meshwork-xds`, a small xDS control plane that serves a mesh described in a YAML
//!   or JSON file. The binary wraps this module; the end-to-end tests drive it in-process.

pub mod xds_server;
