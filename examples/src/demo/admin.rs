//! The demo's admin endpoints: every demo service (each backend and the client) stands for one
//! process of a real mesh, so each gets its own `Mesh` admin endpoint (DESIGN.md "Admin
//! endpoint") on a free loopback port, all guarded by one bearer token per run.
//!
//! Token and binding only; what the endpoint serves is the SDK's `admin` module, and which
//! `Mesh` it serves is the caller's.

use std::net::{Ipv4Addr, SocketAddr};

use meshwork::Mesh;
use meshwork::admin::{AdminHandle, AdminOptions};

use super::DemoError;

/// Characters of a generated token (URL- and shell-safe).
const TOKEN_ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Length of a generated token.
const TOKEN_LEN: usize = 32;

/// A fresh random admin token (drawn from `rng`; the demo seeds it from the OS, so every run
/// differs).
pub fn generate_token(rng: &mut fastrand::Rng) -> String {
    (0..TOKEN_LEN)
        .map(|_| {
            let i = rng.usize(..TOKEN_ALPHABET.len());
            char::from(TOKEN_ALPHABET.get(i).copied().unwrap_or(b'x'))
        })
        .collect()
}

/// Serves `mesh`'s admin endpoint on a free loopback port, mutations guarded by `token`.
pub(super) async fn serve(mesh: &Mesh, token: &str) -> Result<AdminHandle, DemoError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let options = AdminOptions {
        token: Some(token.to_owned()),
        ..AdminOptions::default()
    };
    mesh.serve_admin(addr, options)
        .await
        .map_err(|source| DemoError::Admin {
            service: mesh.service_name().to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_safe_and_differ_between_draws() {
        let mut rng = fastrand::Rng::with_seed(7);
        let a = generate_token(&mut rng);
        let b = generate_token(&mut rng);
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(a.bytes().all(|c| TOKEN_ALPHABET.contains(&c)), "{a}");
        assert_ne!(a, b);
    }
}
