//! Where the interop client's RPCs went: per-request-range watchers for `GetClientStats` and
//! totals for `GetClientAccumulatedStats` (grpc/grpc `doc/xds-test-descriptions.md`, "Client").
//!
//! [`StatsCore`] is plain data: every RPC gets a sequence number when it is *sent*; a watcher
//! covers the next `num_rpcs` numbers after it was registered, so it reports the RPCs sent after
//! the request, not the next ones to finish. [`StatsHub`] shares the core between the sending
//! tasks and the stats service and lets a request wait, bounded, for its watcher to fill.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use meshwork_proto::grpc_testing::load_balancer_accumulated_stats_response::MethodStats;
use meshwork_proto::grpc_testing::load_balancer_stats_response::{
    MetadataByPeer, MetadataEntry, MetadataType, RpcMetadata, RpcsByPeer,
};
use meshwork_proto::grpc_testing::{
    LoadBalancerAccumulatedStatsResponse, LoadBalancerStatsResponse,
};
use tokio::sync::watch;
use tonic::Code;

use super::flags::RpcType;

/// How one RPC ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcOutcome {
    /// The server that answered (response header `hostname`), if it succeeded.
    pub peer: Option<String>,
    /// The final status code.
    pub code: Code,
    /// The response's text metadata `(key, value)`, for `metadata_keys`.
    pub metadata: Vec<(String, String)>,
}

/// Watchers and totals; see the module docs.
#[derive(Debug, Default)]
pub struct StatsCore {
    next_rpc: u64,
    next_watcher: u64,
    watchers: HashMap<u64, Watcher>,
    totals: BTreeMap<RpcType, Totals>,
}

#[derive(Debug)]
struct Watcher {
    start: u64,
    end: u64,
    finished: u64,
    failures: i32,
    by_peer: HashMap<String, i32>,
    by_method: HashMap<String, HashMap<String, i32>>,
    keys: Vec<String>,
    metadata: HashMap<String, MetadataByPeer>,
}

#[derive(Debug, Default)]
struct Totals {
    started: i32,
    succeeded: i32,
    failed: i32,
    results: HashMap<i32, i32>,
}

impl StatsCore {
    /// Records that an RPC of `rpc` is being sent; returns its sequence number.
    pub fn start(&mut self, rpc: RpcType) -> u64 {
        let id = self.next_rpc;
        self.next_rpc += 1;
        self.totals.entry(rpc).or_default().started += 1;
        id
    }

    /// Records how RPC `id` of `rpc` ended.
    pub fn finish(&mut self, id: u64, rpc: RpcType, outcome: &RpcOutcome) {
        let totals = self.totals.entry(rpc).or_default();
        let ok = outcome.code == Code::Ok;
        if ok {
            totals.succeeded += 1;
        } else {
            totals.failed += 1;
        }
        *totals.results.entry(outcome.code as i32).or_default() += 1;
        for w in self.watchers.values_mut() {
            if id < w.start || id >= w.end {
                continue;
            }
            w.finished += 1;
            match (&outcome.peer, ok) {
                (Some(peer), true) => {
                    *w.by_peer.entry(peer.clone()).or_default() += 1;
                    *w.by_method
                        .entry(rpc.method().to_owned())
                        .or_default()
                        .entry(peer.clone())
                        .or_default() += 1;
                    if !w.keys.is_empty() {
                        let entries = selected(&w.keys, &outcome.metadata);
                        w.metadata
                            .entry(peer.clone())
                            .or_default()
                            .rpc_metadata
                            .push(RpcMetadata { metadata: entries });
                    }
                }
                _ => w.failures += 1,
            }
        }
    }

    /// Starts watching the next `num_rpcs` RPCs to be sent, recording the response metadata
    /// named by `keys` (case-insensitive; `*` = all); returns the watcher's key.
    pub fn watch(&mut self, num_rpcs: u64, keys: &[String]) -> u64 {
        let key = self.next_watcher;
        self.next_watcher += 1;
        let start = self.next_rpc;
        self.watchers.insert(
            key,
            Watcher {
                start,
                end: start.saturating_add(num_rpcs),
                finished: 0,
                failures: 0,
                by_peer: HashMap::new(),
                by_method: HashMap::new(),
                keys: keys.iter().map(|k| k.to_ascii_lowercase()).collect(),
                metadata: HashMap::new(),
            },
        );
        key
    }

    /// Whether every RPC of watcher `key` has finished (true for unknown keys).
    pub fn complete(&self, key: u64) -> bool {
        self.watchers
            .get(&key)
            .is_none_or(|w| w.finished >= w.end - w.start)
    }

    /// Removes watcher `key` and reports it; RPCs not finished count as failures.
    pub fn take(&mut self, key: u64) -> LoadBalancerStatsResponse {
        let Some(w) = self.watchers.remove(&key) else {
            return LoadBalancerStatsResponse::default();
        };
        let unfinished = (w.end - w.start).saturating_sub(w.finished);
        LoadBalancerStatsResponse {
            rpcs_by_peer: w.by_peer,
            num_failures: w
                .failures
                .saturating_add(i32::try_from(unfinished).unwrap_or(i32::MAX)),
            rpcs_by_method: w
                .by_method
                .into_iter()
                .map(|(m, rpcs_by_peer)| (m, RpcsByPeer { rpcs_by_peer }))
                .collect(),
            metadatas_by_peer: w.metadata,
        }
    }

    /// Totals since start, in both the deprecated maps and `stats_per_method`.
    #[allow(deprecated)]
    pub fn accumulated(&self) -> LoadBalancerAccumulatedStatsResponse {
        let mut r = LoadBalancerAccumulatedStatsResponse::default();
        for (rpc, t) in &self.totals {
            let key = rpc.accumulated_key().to_owned();
            r.num_rpcs_started_by_method.insert(key.clone(), t.started);
            r.num_rpcs_succeeded_by_method
                .insert(key.clone(), t.succeeded);
            r.num_rpcs_failed_by_method.insert(key.clone(), t.failed);
            r.stats_per_method.insert(
                key,
                MethodStats {
                    rpcs_started: t.started,
                    result: t.results.clone(),
                },
            );
        }
        r
    }
}

/// The entries of `metadata` named by `keys` (`*` = all). Trailers cannot be told apart from
/// headers in a unary tonic response, so every entry is reported as `INITIAL`.
fn selected(keys: &[String], metadata: &[(String, String)]) -> Vec<MetadataEntry> {
    let all = keys.iter().any(|k| k == "*");
    metadata
        .iter()
        .filter(|(k, _)| all || keys.iter().any(|want| want.eq_ignore_ascii_case(k)))
        .map(|(key, value)| MetadataEntry {
            key: key.clone(),
            value: value.clone(),
            r#type: MetadataType::Initial as i32,
        })
        .collect()
}

/// A [`StatsCore`] shared between the sending tasks and the stats service.
#[derive(Debug, Clone)]
pub struct StatsHub {
    core: Arc<Mutex<StatsCore>>,
    finished: watch::Sender<u64>,
}

impl Default for StatsHub {
    fn default() -> Self {
        StatsHub {
            core: Arc::default(),
            finished: watch::channel(0).0,
        }
    }
}

impl StatsHub {
    fn with<T>(&self, f: impl FnOnce(&mut StatsCore) -> T) -> T {
        f(&mut self.core.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// See [`StatsCore::start`].
    pub fn start(&self, rpc: RpcType) -> u64 {
        self.with(|c| c.start(rpc))
    }

    /// See [`StatsCore::finish`]; wakes waiting stats requests.
    pub fn finish(&self, id: u64, rpc: RpcType, outcome: &RpcOutcome) {
        self.with(|c| c.finish(id, rpc, outcome));
        self.finished.send_modify(|n| *n += 1);
    }

    /// Watches the next `num_rpcs` RPCs (with the response metadata named by `keys`) and
    /// reports them once all finished or after `timeout`.
    pub async fn next_rpcs(
        &self,
        num_rpcs: u64,
        keys: &[String],
        timeout: Duration,
    ) -> LoadBalancerStatsResponse {
        let mut changes = self.finished.subscribe();
        let key = self.with(|c| c.watch(num_rpcs, keys));
        let _ = tokio::time::timeout(timeout, async {
            while !self.with(|c| c.complete(key)) {
                if changes.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
        self.with(|c| c.take(key))
    }

    /// See [`StatsCore::accumulated`].
    pub fn accumulated(&self) -> LoadBalancerAccumulatedStatsResponse {
        self.with(|c| c.accumulated())
    }
}

#[cfg(test)]
mod tests;
