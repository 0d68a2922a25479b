//! Which control plane of an ordered `xds_servers` list the ADS stream uses (gRFC A71 "xDS
//! Fallback").
//!
//! Rules: the first server is primary. The stream moves to the next server only when the current
//! one is unreachable (A57: the connection failed, or the stream ended before any response) *and*
//! some watched resource is not cached (never received: a NACKed or does-not-exist resource counts
//! as cached). When every server failed, the next round starts again at the primary after a
//! backoff. While a fallback serves, the stream task keeps probing the primary with a short-lived
//! ADS stream and reverts to it as soon as the primary answers one ("whenever we get back in
//! contact with a given server"), closing the fallback stream. The cache survives every switch,
//! so watchers and the config dump keep what they had.
//!
//! Sans-io: this only decides. The stream task (`transport`) connects, probes and sleeps. Not done:
//! one stream per server kept open at once (one stream per list moves between servers), and the
//! A95 `fallback_on_reachability_only` knob. A primary that accepts connections but never answers
//! for the subscribed names is not reverted to.

use super::channel::ServerChannel;
use super::core::CoreConfig;

/// One server of the list: how to reach it and what the core needs to know about it.
#[derive(Clone, Debug)]
pub(crate) struct Server {
    /// How to connect.
    pub channel: ServerChannel,
    /// The core's view of this server (features, node, decode context).
    pub core_config: CoreConfig,
}

/// What to do after the current server proved unreachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Connect to this (later) server at once.
    FallBack(usize),
    /// Wait for the backoff, then try this server.
    Retry(usize),
}

/// The position in the ordered server list.
#[derive(Debug)]
pub(crate) struct ServerSelector {
    count: usize,
    active: usize,
}

impl ServerSelector {
    /// A selector over `count` servers (at least one), starting at the primary.
    pub fn new(count: usize) -> Self {
        ServerSelector {
            count: count.max(1),
            active: 0,
        }
    }

    /// The index of the server in use.
    pub fn active(&self) -> usize {
        self.active
    }

    /// Whether a fallback (not the primary) is in use.
    pub fn on_fallback(&self) -> bool {
        self.active > 0
    }

    /// The server in use was unreachable; `needs_data` is whether some watched resource is not
    /// cached. Falls back when that helps; otherwise the next attempt goes to the primary.
    pub fn on_unreachable(&mut self, needs_data: bool) -> Step {
        if needs_data && self.active + 1 < self.count {
            self.active += 1;
            Step::FallBack(self.active)
        } else {
            self.active = 0;
            Step::Retry(0)
        }
    }

    /// While waiting to retry the primary after it failed, a resource that is not cached got
    /// watched: fall back at once if there is a server to fall back to.
    pub fn on_new_uncached(&mut self) -> Option<usize> {
        (self.active == 0 && self.count > 1).then(|| {
            self.active = 1;
            1
        })
    }

    /// The primary accepted a connection again: go back to it.
    pub fn revert_to_primary(&mut self) {
        self.active = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falls_back_only_when_some_resource_is_not_cached() {
        let mut s = ServerSelector::new(3);
        assert_eq!(s.on_unreachable(false), Step::Retry(0), "all cached: stay");
        assert_eq!(s.on_unreachable(true), Step::FallBack(1));
        assert!(s.on_fallback());
        assert_eq!(s.on_unreachable(true), Step::FallBack(2));
        assert_eq!(
            s.on_unreachable(true),
            Step::Retry(0),
            "after the last server, a new round starts at the primary"
        );
        assert_eq!(s.active(), 0);
    }

    #[test]
    fn a_single_server_never_falls_back() {
        let mut s = ServerSelector::new(1);
        assert_eq!(s.on_unreachable(true), Step::Retry(0));
        assert_eq!(s.on_new_uncached(), None);
    }

    #[test]
    fn new_uncached_watch_during_backoff_falls_back_and_primary_reverts() {
        let mut s = ServerSelector::new(2);
        assert_eq!(s.on_unreachable(false), Step::Retry(0));
        assert_eq!(s.on_new_uncached(), Some(1));
        assert_eq!(s.on_new_uncached(), None, "already on the fallback");
        s.revert_to_primary();
        assert!(!s.on_fallback());
    }
}
