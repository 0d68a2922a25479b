//! Shared helpers for Meshwork's end-to-end tests (loopback sockets, bounded waits, reference
//! peers).
//!
//! [`backend`] runs real greeter backends (stop, restart, steer, tally);
//! [`channel`] opens SDK channels and waits for where their RPCs land;
//! [`control_plane`] starts the dev control plane and SDK clients pointed at it; [`watch`] waits,
//! with a bound, for what a client reports; [`greeter`] is the test mesh the xDS tests share;
//! [`resilience`] writes meshes with route/cluster policies and builds SDK meshes on them.
//! Reference peers are Python scripts under `tests/peers/` run with the interpreter that
//! `./scripts/test` prepares (`MESHWORK_PYTHON`, a venv with `tests/peers/requirements.txt`).

use std::path::{Path, PathBuf};
use std::process::Command;

pub mod backend;
pub mod channel;
pub mod control_plane;
pub mod greeter;
pub mod mesh_client;
pub mod pki;
pub mod promtool;
pub mod resilience;
pub mod watch;

pub use control_plane::{
    assert_all_acked, bootstrap_for, client_for, fast_reconnect, restart_control_plane,
    start_control_plane,
};
pub use mesh_client::mesh_for;
pub use watch::{WatchLog, wait_for_connection, wait_for_event};

/// Environment variable naming the Python interpreter with grpcio installed.
pub const PYTHON_ENV: &str = "MESHWORK_PYTHON";

/// The reference-peer Python interpreter, checked to import `grpc`.
///
/// Errors say how to fix the setup: run `./scripts/test`, which creates `.venv` and exports
/// `MESHWORK_PYTHON`.
pub fn reference_python() -> Result<PathBuf, String> {
    let python = std::env::var_os(PYTHON_ENV)
        .map(PathBuf::from)
        .ok_or_else(|| {
            format!(
                "{PYTHON_ENV} is not set: the reference-peer tests need Python with grpcio. Run \
             ./scripts/test (it creates .venv from tests/peers/requirements.txt and exports \
             {PYTHON_ENV}), or set {PYTHON_ENV}=/path/to/.venv/bin/python"
            )
        })?;
    let check = Command::new(&python)
        .args(["-c", "import grpc; print(grpc.__version__)"])
        .output()
        .map_err(|e| {
            format!(
                "cannot run {PYTHON_ENV}={}: {e}; run ./scripts/test",
                python.display()
            )
        })?;
    if !check.status.success() {
        return Err(format!(
            "{PYTHON_ENV}={} cannot import grpc ({}); run ./scripts/test to install \
             tests/peers/requirements.txt",
            python.display(),
            String::from_utf8_lossy(&check.stderr).trim()
        ));
    }
    Ok(python)
}

/// Path of a reference-peer script under `tests/peers/`.
pub fn peer_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("peers")
        .join(name)
}
