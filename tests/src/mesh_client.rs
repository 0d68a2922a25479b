//! An SDK [`Mesh`](meshwork::Mesh) pointed at a test control plane, with seeded randomness and
//! quick reconnects, for the end-to-end tests of channels, faults and the admin endpoint.

use std::time::Duration;

use anyhow::{Context, Result};
use meshwork::channel::ChannelOptions;
use meshwork::{Mesh, MeshOptions};
use meshwork_examples::xds_server::ServerHandle;

use crate::control_plane::{bootstrap_for, fast_reconnect};

/// A mesh for node `node_id` of `server`, channel randomness seeded with `seed`.
pub fn mesh_for(server: &ServerHandle, node_id: &str, seed: u64) -> Result<Mesh> {
    let options = MeshOptions {
        channel: ChannelOptions {
            seed: Some(seed),
            resolve_timeout: Duration::from_secs(10),
            ..ChannelOptions::default()
        },
        xds: fast_reconnect(Duration::from_millis(100)),
        ..MeshOptions::default()
    };
    Mesh::builder()
        .bootstrap(bootstrap_for(server.local_addr(), node_id))
        .options(options)
        .service_name(node_id)
        .build()
        .context("build the SDK mesh")
}
