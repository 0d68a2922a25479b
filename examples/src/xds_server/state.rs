//! Shared server state: the versioned resource snapshot every ADS stream serves, the raw
//! overrides tests inject, and the observable ACK/NACK log.
//!
//! A [`Snapshot`] is published whole through a `watch` channel (streams never see half an
//! update); its version increases on every change and is what responses carry as
//! `version_info`. The [`AckLog`] records, per node id and type URL, the last ACKed version,
//! every NACK with its message (Envoy xDS protocol, "ACK and NACK semantics") and the version
//! the node announced when it last opened the type on a stream.
//! No networking here; see [`super::ads`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use meshwork_proto::google::protobuf::Any;
use tokio::sync::{broadcast, watch};

use super::translate::ResourceMap;

/// One consistent set of resources with its version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Increases by one on every change; sent as `version_info`.
    pub version: u64,
    /// Resources by type URL, then name.
    pub resources: ResourceMap,
}

impl Snapshot {
    /// All resources of one type (empty when the type is unknown).
    pub fn of_type(&self, type_url: &str) -> impl Iterator<Item = (&String, &Any)> {
        self.resources.get(type_url).into_iter().flatten()
    }

    /// One resource.
    pub fn get(&self, type_url: &str, name: &str) -> Option<&Any> {
        self.resources.get(type_url)?.get(name)
    }
}

/// What a client said about a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckEvent {
    /// The client accepted `version` of `type_url`.
    Ack {
        /// Node id from the stream's first request.
        node_id: String,
        /// Resource type.
        type_url: String,
        /// Accepted version.
        version: String,
    },
    /// The client rejected the response carrying `version`.
    Nack {
        /// Node id from the stream's first request.
        node_id: String,
        /// Resource type.
        type_url: String,
        /// Version the client rejected.
        version: String,
        /// The client's `error_detail.message`.
        message: String,
    },
}

/// A recorded NACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NackRecord {
    /// Version the client rejected.
    pub version: String,
    /// Why, in the client's words.
    pub message: String,
}

/// ACK state of one node for one type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeStatus {
    /// Last version the node ACKed.
    pub last_acked: Option<String>,
    /// Every NACK, oldest first.
    pub nacks: Vec<NackRecord>,
    /// The version the node announced when it last opened this type on a stream (empty when it
    /// held none). After a reconnect this is the version it last accepted (Envoy xDS protocol).
    pub opened_with: Option<String>,
}

/// ACK/NACK history per (node id, type URL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckLog {
    entries: BTreeMap<(String, String), TypeStatus>,
}

impl AckLog {
    /// Status of `node_id` for `type_url`, if it ever ACKed or NACKed that type.
    pub fn status(&self, node_id: &str, type_url: &str) -> Option<&TypeStatus> {
        self.entries.get(&(node_id.to_owned(), type_url.to_owned()))
    }

    /// Every (node id, type URL, status), sorted.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, &TypeStatus)> {
        self.entries
            .iter()
            .map(|((n, t), s)| (n.as_str(), t.as_str(), s))
    }

    /// Whether `node_id` ACKed `type_url` at `version` or later.
    pub fn acked_at_least(&self, node_id: &str, type_url: &str, version: u64) -> bool {
        self.status(node_id, type_url)
            .and_then(|s| s.last_acked.as_deref())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|v| v >= version)
    }

    /// Total NACKs recorded for any node and type.
    pub fn nack_count(&self) -> usize {
        self.entries.values().map(|s| s.nacks.len()).sum()
    }

    fn record(&mut self, event: &AckEvent) {
        match event {
            AckEvent::Ack {
                node_id,
                type_url,
                version,
            } => {
                self.entries
                    .entry((node_id.clone(), type_url.clone()))
                    .or_default()
                    .last_acked = Some(version.clone());
            }
            AckEvent::Nack {
                node_id,
                type_url,
                version,
                message,
            } => {
                self.entries
                    .entry((node_id.clone(), type_url.clone()))
                    .or_default()
                    .nacks
                    .push(NackRecord {
                        version: version.clone(),
                        message: message.clone(),
                    });
            }
        }
    }
}

/// The mesh's translated resources plus raw overrides, and the channels that publish them.
pub(crate) struct Store {
    inner: Mutex<Inner>,
    snapshot: watch::Sender<Arc<Snapshot>>,
    acks: watch::Sender<AckLog>,
    events: broadcast::Sender<AckEvent>,
}

#[derive(Default)]
struct Inner {
    version: u64,
    mesh: ResourceMap,
    raw: BTreeMap<(String, String), Any>,
}

impl Store {
    pub(crate) fn new(mesh: ResourceMap) -> Store {
        let store = Store {
            inner: Mutex::new(Inner {
                version: 0,
                mesh,
                raw: BTreeMap::new(),
            }),
            snapshot: watch::Sender::new(Arc::new(Snapshot::default())),
            acks: watch::Sender::new(AckLog::default()),
            events: broadcast::Sender::new(256),
        };
        store.update(|_| {});
        store
    }

    /// Applies `change`, bumps the version and publishes the new snapshot; returns the version.
    fn update(&self, change: impl FnOnce(&mut Inner)) -> u64 {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut inner);
        inner.version += 1;
        let mut resources = inner.mesh.clone();
        for ((type_url, name), any) in &inner.raw {
            resources
                .entry(type_url.clone())
                .or_default()
                .insert(name.clone(), any.clone());
        }
        let version = inner.version;
        self.snapshot
            .send_replace(Arc::new(Snapshot { version, resources }));
        version
    }

    pub(crate) fn set_mesh(&self, mesh: ResourceMap) -> u64 {
        self.update(|inner| inner.mesh = mesh)
    }

    pub(crate) fn set_raw(&self, type_url: &str, name: &str, any: Any) -> u64 {
        self.update(|inner| {
            inner
                .raw
                .insert((type_url.to_owned(), name.to_owned()), any);
        })
    }

    pub(crate) fn remove_raw(&self, type_url: &str, name: &str) -> u64 {
        self.update(|inner| {
            inner.raw.remove(&(type_url.to_owned(), name.to_owned()));
        })
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    pub(crate) fn subscribe_snapshot(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshot.subscribe()
    }

    pub(crate) fn record(&self, event: AckEvent) {
        self.acks.send_modify(|log| log.record(&event));
        // No subscriber is fine: the log above keeps the history.
        let _ = self.events.send(event);
    }

    /// Notes that `node_id` opened `type_url` on a stream announcing `version` (no event: this
    /// is neither an ACK nor a NACK).
    pub(crate) fn record_opened(&self, node_id: &str, type_url: &str, version: String) {
        self.acks.send_modify(|log| {
            log.entries
                .entry((node_id.to_owned(), type_url.to_owned()))
                .or_default()
                .opened_with = Some(version);
        });
    }

    pub(crate) fn ack_log(&self) -> AckLog {
        self.acks.borrow().clone()
    }

    pub(crate) fn subscribe_acks(&self) -> watch::Receiver<AckLog> {
        self.acks.subscribe()
    }

    pub(crate) fn subscribe_events(&self) -> broadcast::Receiver<AckEvent> {
        self.events.subscribe()
    }
}
