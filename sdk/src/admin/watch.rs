//! The Watch stream: snapshots at the interval the client asks for (raised to
//! [`MIN_WATCH_INTERVAL`](super::MIN_WATCH_INTERVAL)), interleaved with events as they happen.
//!
//! Events come from three sources. Outlier ejections and returns and circuit-breaker
//! overflows arrive from the mesh's [`EventSink`](crate::channel::EventSink) as they happen
//! (overflows coalesced per cluster, see `channel::events`). Fault rule changes arrive from
//! [`FaultRegistry::subscribe`](crate::fault::FaultRegistry::subscribe) as soon as they happen; a
//! subscriber that falls behind gets an `EventsDropped` with the count. xDS updates and NACKs are
//! derived by diffing the xDS client's config dump at every interval (every 250 ms for an
//! events-only watch), so each shows up within one interval: a changed accepted version is an
//! `XdsUpdate`, a resource that disappeared or no longer exists an `XdsUpdate` with `removed`, a
//! new rejected update an `XdsNack` with the rejection's text. The stream is a plain future-driven `Stream` (no task): it stops when
//! the client goes away.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use meshwork_proto::admin::v1 as pb;
use pb::event::Kind;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tonic::Status;

use super::{MIN_WATCH_INTERVAL, snapshot};
use crate::Mesh;
use crate::channel::MeshEvent;
use crate::channel::events::reason_text;
use crate::fault::{FaultEvent, WallClock, wire};
use crate::xds::{ConfigDump, ResourceStatus};

/// How often an events-only watch looks at the xDS config dump.
const EVENTS_ONLY_POLL: Duration = Duration::from_millis(250);

/// The Watch response stream.
pub(crate) type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchUpdate, Status>> + Send>>;

/// What was last seen of one xDS resource.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    version: String,
    status: ResourceStatus,
    error: Option<(String, String)>,
}

struct State {
    mesh: Mesh,
    request: pb::GetSnapshotRequest,
    snapshots: Option<Interval>,
    poll: Interval,
    faults: broadcast::Receiver<FaultEvent>,
    events: Option<broadcast::Receiver<MeshEvent>>,
    seen: HashMap<(String, String), Seen>,
    queue: VecDeque<pb::WatchUpdate>,
}

/// Starts a watch for `request`.
pub(crate) fn start(mesh: Mesh, request: pb::WatchRequest) -> WatchStream {
    let interval = request
        .interval
        .and_then(|d| u64::try_from(d.seconds).ok().map(|s| (s, d.nanos)))
        .map(|(s, n)| Duration::from_secs(s) + Duration::from_nanos(u64::try_from(n).unwrap_or(0)))
        .filter(|d| !d.is_zero())
        .map(|d| d.max(MIN_WATCH_INTERVAL));
    let ticker = |period: Duration| {
        let mut t = tokio::time::interval(period);
        t.set_missed_tick_behavior(MissedTickBehavior::Delay);
        t
    };
    let seen = mesh
        .xds_client()
        .map(|c| index(&c.config_dump()))
        .unwrap_or_default();
    let state = State {
        faults: mesh.faults().subscribe(),
        events: mesh.events().subscribe(),
        snapshots: interval.map(ticker),
        poll: ticker(interval.unwrap_or(EVENTS_ONLY_POLL)),
        request: request.snapshot.unwrap_or_default(),
        seen,
        queue: VecDeque::new(),
        mesh,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(update) = st.queue.pop_front() {
                return Some((Ok(update), st));
            }
            tokio::select! {
                _ = tick(&mut st.snapshots) => {
                    let s = snapshot::build(&st.mesh, &st.request);
                    st.queue.push_back(pb::WatchUpdate {
                        update: Some(pb::watch_update::Update::Snapshot(s)),
                    });
                }
                _ = st.poll.tick() => st.diff_dump(),
                event = st.faults.recv() => match event {
                    Ok(event) => {
                        let change = wire::event_to_proto(&event, &WallClock::now());
                        st.push_event(Kind::FaultRuleChanged(change));
                    }
                    Err(RecvError::Lagged(count)) => {
                        st.push_event(Kind::EventsDropped(pb::EventsDropped { count }));
                    }
                    Err(RecvError::Closed) => return None,
                },
                event = next_event(&mut st.events) => match event {
                    Ok(event) => {
                        let (at, kind) = mesh_event(&event, &st.mesh.started().1);
                        st.push_event_at(at, kind);
                    }
                    Err(RecvError::Lagged(count)) => {
                        st.push_event(Kind::EventsDropped(pb::EventsDropped { count }));
                    }
                    Err(RecvError::Closed) => st.events = None,
                },
            }
        }
    }))
}

async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The next mesh event; never, without a subscription.
async fn next_event(
    events: &mut Option<broadcast::Receiver<MeshEvent>>,
) -> Result<MeshEvent, RecvError> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// A mesh event as the admin API shows it, with when it happened.
fn mesh_event(event: &MeshEvent, clock: &WallClock) -> (Instant, Kind) {
    match event {
        MeshEvent::Ejection {
            at,
            cluster,
            endpoint,
            until,
            reason,
        } => (
            *at,
            Kind::Ejection(pb::Ejection {
                cluster: cluster.clone(),
                endpoint: endpoint.to_string(),
                until: Some(clock.timestamp(*until)),
                reason: reason_text(*reason).to_string(),
            }),
        ),
        MeshEvent::Unejection {
            at,
            cluster,
            endpoint,
            reason,
        } => (
            *at,
            Kind::Unejection(pb::Unejection {
                cluster: cluster.clone(),
                endpoint: endpoint.to_string(),
                reason: reason_text(*reason).to_string(),
            }),
        ),
        MeshEvent::BreakerOverflow {
            at,
            cluster,
            max_requests,
            refused,
        } => (
            *at,
            Kind::BreakerOverflow(pb::BreakerOverflow {
                cluster: cluster.to_string(),
                max_requests: *max_requests,
                refused: *refused,
            }),
        ),
    }
}

impl State {
    fn push_event(&mut self, kind: Kind) {
        self.push_event_at(Instant::now(), kind);
    }

    fn push_event_at(&mut self, at: Instant, kind: Kind) {
        // The mesh's clock, as the snapshot uses: the same instant shows the same time.
        let at = self.mesh.started().1.timestamp(at);
        self.queue.push_back(pb::WatchUpdate {
            update: Some(pb::watch_update::Update::Event(pb::Event {
                at: Some(at),
                kind: Some(kind),
            })),
        });
    }

    fn diff_dump(&mut self) {
        let Some(client) = self.mesh.xds_client() else {
            return;
        };
        let now = index(&client.config_dump());
        let mut events = Vec::new();
        for (key, after) in &now {
            let before = self.seen.get(key);
            if before == Some(after) {
                continue;
            }
            let (type_url, name) = key.clone();
            if let Some((version, message)) = &after.error
                && before.and_then(|b| b.error.as_ref()) != after.error.as_ref()
            {
                events.push(Kind::XdsNack(pb::XdsNack {
                    type_url: type_url.clone(),
                    name: name.clone(),
                    version: version.clone(),
                    message: message.clone(),
                }));
            }
            let removed = after.status == ResourceStatus::DoesNotExist
                && before.is_some_and(|b| b.status != ResourceStatus::DoesNotExist);
            let updated = after.status == ResourceStatus::Acked
                && before.is_none_or(|b| b.version != after.version || b.status != after.status);
            if removed || updated {
                events.push(Kind::XdsUpdate(pb::XdsUpdate {
                    type_url,
                    name,
                    version: after.version.clone(),
                    removed,
                }));
            }
        }
        for (type_url, name) in self.seen.keys().filter(|k| !now.contains_key(*k)) {
            events.push(Kind::XdsUpdate(pb::XdsUpdate {
                type_url: type_url.clone(),
                name: name.clone(),
                version: String::new(),
                removed: true,
            }));
        }
        self.seen = now;
        for kind in events {
            self.push_event(kind);
        }
    }
}

fn index(dump: &ConfigDump) -> HashMap<(String, String), Seen> {
    dump.resources
        .iter()
        .map(|r| {
            (
                (r.type_url.to_string(), r.name.clone()),
                Seen {
                    version: r.version_info.clone(),
                    status: r.status,
                    error: r
                        .error_state
                        .as_ref()
                        .map(|e| (e.version_info.clone(), e.details.clone())),
                },
            )
        })
        .collect()
}
