//! Helpers shared by the balancer's unit tests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use super::endpoint::{Connectivity, EndpointHandle, EndpointId, Member};
use super::picker::{PickError, PickRequest, PickResult, Picker};

/// `n` members on 10.0.0.1:8000.., all in `state`, weight 1.
pub fn members(n: usize, state: Connectivity) -> Vec<Member> {
    (0..n)
        .map(|i| {
            let address: SocketAddr = format!("10.0.{}.{}:8000", i / 200, i % 200 + 1)
                .parse()
                .unwrap();
            Member {
                handle: EndpointHandle::new(EndpointId(i as u64), address),
                state,
                weight: 1,
                ring_key: Arc::from(address.to_string()),
            }
        })
        .collect()
}

/// The fail answer used by unit tests.
pub fn fail() -> PickResult {
    PickResult::Fail(PickError::new("test cluster: nothing usable"))
}

/// Picks `n` times; counts picks per endpoint id. Panics on a non-pick.
pub fn pick_counts(p: &dyn Picker, n: usize, hash: Option<u64>) -> HashMap<EndpointId, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        match p.pick(&PickRequest { hash }) {
            PickResult::Pick(h) => *counts.entry(h.id()).or_default() += 1,
            other => panic!("expected a pick, got {other:?}"),
        }
    }
    counts
}
