//! [`ChannelCore`]: what every clone of a [`MeshChannel`](super::MeshChannel) shares — the
//! target, the authority RPCs carry, the published [`RouteState`](super::state::RouteState), the
//! channel's randomness and clock, and ownership of the manager task (dropping the last clone
//! stops it, and with it the resolver and the channel's hold on endpoint connections).
//!
//! It also holds the one waiting primitive of the request path,
//! [`ChannelCore::until_ready`]: try against the current state, else wait for the next one, up
//! to the RPC's bound. It makes no routing or picking decision itself.

use std::sync::Arc;

use http::uri::Authority;
use tokio::task::AbortHandle;

use super::ChannelOptions;
use super::deadline::CallBound;
use super::error::RpcError;
use super::options::Resilience;
use super::state::{Published, RouteState};
use crate::balancer::{AtomicRng, Clock};
use crate::route::RandomSource;

/// Shared by every clone of a channel; see the module docs.
#[derive(Debug)]
pub(crate) struct ChannelCore {
    /// The target as given (`xds:///greeter:50051`, or `static:` plus the endpoint list).
    pub(crate) target: Arc<str>,
    /// The `:authority` of every RPC and the key of virtual-host matching.
    pub(crate) authority: Authority,
    /// The published routing and balancing state.
    pub(crate) published: Arc<Published>,
    /// Channel options.
    pub(crate) options: ChannelOptions,
    /// The channel's random id (ring hash's `io.grpc.channel_id` hash policy, gRFC A42).
    pub(crate) channel_id: u64,
    /// Randomness of routing decisions (runtime fractions, weighted clusters).
    pub(crate) rng: AtomicRng,
    /// Time for latency records.
    pub(crate) clock: Clock,
    /// The channel's retry budget and throttle.
    pub(crate) resilience: Resilience,
    /// Faults injected into this channel's RPCs.
    pub(crate) fault_counters: super::fault::FaultCounters,
    pub(crate) task: AbortHandle,
}

impl Drop for ChannelCore {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChannelCore {
    /// Calls `attempt` with the current state until it gives an answer, waiting for each newly
    /// published state in between, at most until `bound` ends the wait.
    pub(crate) async fn until_ready<T>(
        &self,
        bound: &CallBound,
        mut attempt: impl FnMut(&RouteState) -> Option<Result<T, RpcError>>,
        waiting_for: impl FnOnce() -> String,
    ) -> Result<T, RpcError> {
        let mut changes = self.published.changes();
        loop {
            changes.borrow_and_update();
            if let Some(answer) = attempt(&self.published.load()) {
                return answer;
            }
            match tokio::time::timeout_at(bound.until(), changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    return Err(RpcError::Stopped {
                        target: self.target.clone(),
                    });
                }
                Err(_) => return Err(bound.expired(&self.target, waiting_for())),
            }
        }
    }
}

/// The channel's shared RNG as a routing [`RandomSource`].
pub(crate) struct SharedRng<'a>(pub(crate) &'a AtomicRng);

impl RandomSource for SharedRng<'_> {
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}
