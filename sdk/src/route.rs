//! Request routing: picks the virtual host for a target's `:authority`, matches each RPC against
//! that virtual host's routes, and turns the first matching route into a [`RouteDecision`]: the
//! weighted cluster chosen for this RPC, the route's policies (stream duration cap, retry, hash
//! policies) and the merged per-filter overrides.
//!
//! Implements gRFC A28 (virtual host selection, route matching, weighted clusters), A63
//! (`StringMatcher` header matching; header `invert_match` semantics as clarified in A41),
//! A31/A44 (policies carried to the channel) and A42 (request hash for ring hash).
//!
//! This module is sans-io and pure: no locks, no I/O, no clocks. Randomness (runtime fractions,
//! weighted cluster picks) comes from an injected [`RandomSource`], so every decision is
//! reproducible with a seed. It does not pick endpoints (the `balancer` does), apply retries or
//! deadlines (`resilience`), or inject faults (`fault`); it only tells the channel which of them
//! apply to an RPC.

use tonic::codegen::http::HeaderMap;

pub mod decision;
pub mod error;
pub mod hash;
pub mod matcher;
pub mod table;

pub use crate::resolver::vhost::{DomainKind, domain_match, select_virtual_host};
pub use decision::RouteDecision;
pub use error::{NoVirtualHost, RouteError};
pub use hash::request_hash;
pub use table::RouteTable;

/// What routing needs to know about one RPC.
#[derive(Clone, Copy, Debug)]
pub struct RequestInfo<'a> {
    /// The gRPC path, `/package.Service/Method`.
    pub path: &'a str,
    /// The request's metadata (application headers). Pseudo-headers are not part of a
    /// `HeaderMap`; `-bin` headers are ignored for matching and `content-type` is always
    /// matched as `application/grpc`, as gRPC does.
    pub headers: &'a HeaderMap,
}

impl<'a> RequestInfo<'a> {
    /// A request for `path` carrying `headers`.
    pub fn new(path: &'a str, headers: &'a HeaderMap) -> Self {
        RequestInfo { path, headers }
    }
}

/// A source of uniformly distributed random numbers, injected so routing is reproducible in
/// tests (a seeded [`fastrand::Rng`] implements it).
pub trait RandomSource {
    /// A uniformly distributed 64-bit value.
    fn next_u64(&mut self) -> u64;

    /// A uniformly distributed value in `0..bound` (`0` when `bound` is 0).
    fn below(&mut self, bound: u32) -> u32 {
        // Multiply-shift maps 64 random bits onto `0..bound`; the bias is below 2^-32.
        let wide = u128::from(self.next_u64()) * u128::from(bound);
        // The shifted value is < bound ≤ u32::MAX, so the conversion never fails.
        u32::try_from(wide >> 64).unwrap_or(0)
    }
}

impl RandomSource for fastrand::Rng {
    fn next_u64(&mut self) -> u64 {
        self.u64(..)
    }
}

impl<R: RandomSource + ?Sized> RandomSource for &mut R {
    fn next_u64(&mut self) -> u64 {
        (**self).next_u64()
    }
}
