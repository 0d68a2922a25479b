//! The cluster manager task of one channel: the only writer of its
//! [`RouteState`](super::state::RouteState) (gRPC's `xds_cluster_manager` plus the channel's
//! picker updates, gRFC A27/A28; `reference/xds-client.md` §3 step 8).
//!
//! One owned task per channel target turns each event into state, then publishes a whole new
//! state when something changed:
//! - resolver snapshots → route table and clusters (create, update, drop balancers);
//! - the first snapshot not arriving within the resolve timeout, or a resolver error that
//!   leaves no usable configuration → RPCs fail with the resolver's text (which resource is
//!   missing or rejected) instead of waiting;
//! - endpoint connectivity, one `watch` per pooled connection in use (an address may have a
//!   plaintext and a TLS one, gRFC A29) → `update_connectivity`;
//! - balancer timers and outlier-detection sweeps (`next_timer` / `on_timer`, gRFC A50);
//! - active health-check verdicts (gRFC A17, when the channel enables them) → `set_usable`;
//! - LOGICAL_DNS answers (resolved here with `tokio::net::lookup_host`, refreshed every
//!   [`DNS_REFRESH`]), never on the request path.
//!
//! The task ends when the channel's last clone drops (it is aborted); its lookups stop with it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_stream::StreamExt;
use tokio_stream::StreamMap;
use tokio_stream::wrappers::WatchStream;

use super::clusters::{ClusterSet, DnsLookup};
use super::fault::ListenerFaults;
use super::state::{Published, Routing};
use crate::balancer::Connectivity;
use crate::health::check::{HealthChecks, Verdict};
use crate::resolver::{ResolverHandle, ResolverState, Snapshot};
use crate::route::RouteTable;

/// How often LOGICAL_DNS names are resolved again.
pub const DNS_REFRESH: Duration = Duration::from_secs(30);

/// Where a channel's configuration comes from.
pub(crate) enum Source {
    /// An xDS resolver.
    Xds {
        /// The running resolver.
        resolver: ResolverHandle,
        /// How long RPCs wait for the first snapshot.
        resolve_timeout: Duration,
    },
    /// Fixed: the cluster set was filled in advance.
    Static,
}

/// The task's state.
pub(crate) struct Manager {
    clusters: ClusterSet,
    routing: Routing,
    authority: String,
    published: Arc<Published>,
    /// Connectivity of each pooled connection in use, by connection id.
    watches: StreamMap<u64, WatchStream<Connectivity>>,
    dns: JoinSet<(DnsLookup, Result<Vec<SocketAddr>, String>)>,
    generation: u64,
    had_snapshot: bool,
    /// The listener's default stream duration cap (A31).
    stream_cap: Option<Duration>,
    /// Active health checks, when enabled.
    health: Option<HealthChecks>,
    /// The snapshot in use and its listener's fault filters (published for the fault layer and
    /// the admin view).
    snapshot: Option<Arc<Snapshot>>,
    faults: Option<Arc<ListenerFaults>>,
}

impl Manager {
    /// A manager publishing into `published`.
    pub(crate) fn new(
        clusters: ClusterSet,
        routing: Routing,
        authority: String,
        published: Arc<Published>,
    ) -> Self {
        Manager {
            clusters,
            routing,
            authority,
            published,
            watches: StreamMap::new(),
            dns: JoinSet::new(),
            generation: 0,
            had_snapshot: false,
            stream_cap: None,
            health: None,
            snapshot: None,
            faults: None,
        }
    }

    /// Watches every endpoint's health for `service` (gRFC A17).
    pub(crate) fn with_health_checks(mut self, service: String) -> Self {
        self.health = Some(HealthChecks::new(service));
        self
    }

    /// Runs until aborted.
    pub(crate) async fn run(mut self, source: Source) {
        let (resolver, resolve_timeout) = match source {
            Source::Xds {
                resolver,
                resolve_timeout,
            } => (Some(resolver), resolve_timeout),
            Source::Static => (None, Duration::ZERO),
        };
        let mut states = resolver.as_ref().map(ResolverHandle::subscribe);
        if let Some(rx) = states.as_mut() {
            let state = rx.borrow_and_update().clone();
            self.on_resolver(&state);
        }
        self.publish();
        let first = async {
            match &resolver {
                Some(r) => r.wait_for_snapshot(resolve_timeout).await.err(),
                None => std::future::pending().await,
            }
        };
        tokio::pin!(first);
        let mut first_done = false;
        let mut refresh = tokio::time::interval(DNS_REFRESH);
        refresh.tick().await;
        loop {
            let timer = self.clusters.next_timer();
            let changed = tokio::select! {
                changed = next_state(&mut states) => match changed {
                    Some(state) => self.on_resolver(&state),
                    None => {
                        states = None;
                        self.routing = Routing::Failed("the xDS resolver stopped".into());
                        true
                    }
                },
                error = &mut first, if !first_done => {
                    first_done = true;
                    match error {
                        Some(error) if matches!(self.routing, Routing::Pending) => {
                            self.routing = Routing::Failed(error.to_string().into());
                            true
                        }
                        _ => false,
                    }
                }
                Some((connection, state)) = self.watches.next() => {
                    self.clusters.on_connectivity(connection, state)
                }
                () = tokio::time::sleep(timer.unwrap_or_default()), if timer.is_some() => {
                    self.clusters.on_timer()
                }
                Some(verdict) = next_verdict(&mut self.health) => {
                    self.clusters.on_health(verdict.address, verdict.serving)
                }
                Some(Ok((lookup, result))) = self.dns.join_next() => {
                    self.clusters.on_dns(&lookup, result)
                }
                _ = refresh.tick() => {
                    self.resolve(self.clusters.dns_lookups());
                    false
                }
            };
            if changed {
                self.publish();
            }
        }
    }

    /// Applies a resolver state; returns whether anything changed.
    fn on_resolver(&mut self, state: &ResolverState) -> bool {
        match &state.snapshot {
            Some(snapshot) if snapshot.generation == self.generation => false,
            Some(snapshot) => {
                self.generation = snapshot.generation;
                self.had_snapshot = true;
                self.stream_cap = snapshot.listener.max_stream_duration;
                self.faults = ListenerFaults::new(&snapshot.listener.http_filters).map(Arc::new);
                self.snapshot = Some(snapshot.clone());
                let lookups = self.clusters.apply(snapshot);
                self.resolve(lookups);
                self.routing = match snapshot.virtual_host() {
                    Some(vh) => Routing::Table(Arc::new(RouteTable::new(&self.authority, vh))),
                    None => Routing::Failed(
                        format!("no virtual host serves authority `{}`", self.authority).into(),
                    ),
                };
                true
            }
            None => match &state.error {
                Some(error) if self.had_snapshot || !error.is_transient() => {
                    self.generation = 0;
                    self.snapshot = None;
                    self.faults = None;
                    self.routing = Routing::Failed(error.to_string().into());
                    true
                }
                _ => false,
            },
        }
    }

    fn resolve(&mut self, lookups: Vec<DnsLookup>) {
        for lookup in lookups {
            self.dns.spawn(async move {
                let result = tokio::net::lookup_host((lookup.host.as_str(), lookup.port))
                    .await
                    .map(Iterator::collect)
                    .map_err(|e| e.to_string());
                (lookup, result)
            });
        }
    }

    /// Subscribes to the connectivity of every connection in use (dropping the rest), then
    /// publishes the whole state.
    fn publish(&mut self) {
        let connections: HashMap<u64, _> = self.clusters.connections_by_id();
        let stale: Vec<u64> = self
            .watches
            .keys()
            .filter(|id| !connections.contains_key(id))
            .copied()
            .collect();
        for id in stale {
            self.watches.remove(&id);
        }
        if let Some(health) = self.health.as_mut() {
            health.reconcile(&self.clusters.connections());
        }
        for (id, connection) in connections {
            if !self.watches.contains_key(&id) {
                self.watches
                    .insert(id, WatchStream::new(connection.subscribe()));
            }
        }
        let mut state = self.clusters.state(self.routing.clone());
        state.stream_cap = self.stream_cap;
        state.snapshot = self.snapshot.clone();
        state.faults = self.faults.clone();
        self.published.publish(state);
    }
}

/// The next health verdict; pending forever without health checks.
async fn next_verdict(health: &mut Option<HealthChecks>) -> Option<Verdict> {
    match health {
        Some(health) => health.next().await,
        None => std::future::pending().await,
    }
}

/// The next resolver state; `None` once the resolver is gone. Pending forever without one.
async fn next_state(
    states: &mut Option<tokio::sync::watch::Receiver<ResolverState>>,
) -> Option<ResolverState> {
    match states {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(rx.borrow_and_update().clone()),
            Err(_) => None,
        },
        None => std::future::pending().await,
    }
}
