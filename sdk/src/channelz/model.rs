//! Builds the channelz objects of a mesh from its channel views and xDS stream states: ids,
//! connectivity states and call counters as described in the parent module.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

use meshwork_proto::channelz::v1 as pb;
use pb::channel_connectivity_state::State;

use crate::Mesh;
use crate::balancer::{Connectivity, EndpointState};
use crate::channel::inspect::{ClusterViewKind, RoutingView};
use crate::xds::ConnectionState;

/// Every channel, subchannel and socket of a mesh at one moment.
#[derive(Debug, Default)]
pub(super) struct Model {
    pub(super) channels: Vec<pb::Channel>,
    pub(super) subchannels: Vec<pb::Subchannel>,
    pub(super) sockets: Vec<pb::Socket>,
}

/// A positive id derived from `key` (stable for the life of the process).
fn id_of(key: impl Hash) -> i64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    i64::try_from(h.finish() >> 1).unwrap_or(i64::MAX).max(1)
}

fn state(state: State) -> Option<pb::ChannelConnectivityState> {
    Some(pb::ChannelConnectivityState {
        state: state as i32,
    })
}

fn connectivity(c: Connectivity) -> State {
    match c {
        Connectivity::Idle => State::Idle,
        Connectivity::Connecting => State::Connecting,
        Connectivity::Ready => State::Ready,
        Connectivity::TransientFailure => State::TransientFailure,
    }
}

/// gRPC's aggregation: READY if any is, else CONNECTING if any is, else IDLE if any is, else
/// TRANSIENT_FAILURE (or IDLE with no subchannel at all).
fn aggregate(states: &[State]) -> State {
    [State::Ready, State::Connecting, State::Idle]
        .into_iter()
        .find(|s| states.contains(s))
        .unwrap_or(if states.is_empty() {
            State::Idle
        } else {
            State::TransientFailure
        })
}

fn address(addr: SocketAddr) -> pb::Address {
    let ip_address = match addr.ip() {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    pb::Address {
        address: Some(pb::address::Address::TcpipAddress(
            pb::address::TcpIpAddress {
                ip_address,
                port: i32::from(addr.port()),
            },
        )),
    }
}

/// Calls of one endpoint: (started, succeeded, failed).
fn calls(endpoint: &EndpointState) -> (i64, i64, i64) {
    let load = endpoint.handle.load();
    let totals = load.stats().totals();
    let done = i64::try_from(totals.requests).unwrap_or(i64::MAX);
    let failed = i64::try_from(totals.errors).unwrap_or(i64::MAX);
    let in_flight = i64::from(load.in_flight());
    (
        done.saturating_add(in_flight),
        done.saturating_sub(failed),
        failed,
    )
}

impl Model {
    /// The model of `mesh` now.
    pub(super) fn of(mesh: &Mesh) -> Model {
        let mut model = Model::default();
        for core in mesh.all_channels() {
            model.add_channel(core.channel_id, &core.inspect());
        }
        if let Some(client) = mesh.xds_client() {
            for (_, status) in client.connection_statuses() {
                let state = match status.state {
                    ConnectionState::Connected => State::Ready,
                    ConnectionState::Connecting => State::Connecting,
                    ConnectionState::BackingOff => State::TransientFailure,
                };
                let started = i64::try_from(status.streams_started).unwrap_or(i64::MAX);
                let ended = i64::try_from(status.streams_ended).unwrap_or(i64::MAX);
                model.channels.push(pb::Channel {
                    r#ref: Some(pb::ChannelRef {
                        channel_id: id_of(("xds", &status.server_uri)),
                        name: status.server_uri.clone(),
                    }),
                    data: Some(pb::ChannelData {
                        state: self::state(state),
                        target: status.server_uri,
                        calls_started: started,
                        calls_failed: ended,
                        ..pb::ChannelData::default()
                    }),
                    ..pb::Channel::default()
                });
            }
        }
        model
    }

    fn add_channel(&mut self, channel_id: u64, view: &crate::channel::inspect::TargetView) {
        let id = id_of(("channel", channel_id));
        let mut states = Vec::new();
        let mut refs = Vec::new();
        let (mut started, mut succeeded, mut failed) = (0i64, 0i64, 0i64);
        for cluster in view.clusters.iter() {
            let ClusterViewKind::Leaf { endpoints, .. } = &cluster.kind else {
                continue;
            };
            for endpoint in endpoints {
                let addr = endpoint.handle.address();
                let sub_id = id_of(("subchannel", channel_id, &cluster.name, addr));
                let sub_state = connectivity(endpoint.connectivity);
                let (s, ok, bad) = calls(endpoint);
                started = started.saturating_add(s);
                succeeded = succeeded.saturating_add(ok);
                failed = failed.saturating_add(bad);
                states.push(sub_state);
                let name = format!("{} {addr}", cluster.name);
                refs.push(pb::SubchannelRef {
                    subchannel_id: sub_id,
                    name: name.clone(),
                });
                let socket_ref = (sub_state == State::Ready).then(|| pb::SocketRef {
                    socket_id: id_of(("socket", addr)),
                    name: addr.to_string(),
                });
                if let Some(socket) = &socket_ref
                    && !self
                        .sockets
                        .iter()
                        .any(|s| s.r#ref.as_ref() == Some(socket))
                {
                    self.sockets.push(pb::Socket {
                        r#ref: Some(socket.clone()),
                        remote: Some(address(addr)),
                        ..pb::Socket::default()
                    });
                }
                self.subchannels.push(pb::Subchannel {
                    r#ref: Some(pb::SubchannelRef {
                        subchannel_id: sub_id,
                        name,
                    }),
                    data: Some(pb::ChannelData {
                        state: state(sub_state),
                        target: addr.to_string(),
                        calls_started: s,
                        calls_succeeded: ok,
                        calls_failed: bad,
                        ..pb::ChannelData::default()
                    }),
                    socket_ref: socket_ref.into_iter().collect(),
                    ..pb::Subchannel::default()
                });
            }
        }
        let channel_state = match &view.routing {
            RoutingView::Pending => State::Connecting,
            RoutingView::Failed(_) => State::TransientFailure,
            RoutingView::Static | RoutingView::Ready => aggregate(&states),
        };
        self.channels.push(pb::Channel {
            r#ref: Some(pb::ChannelRef {
                channel_id: id,
                name: view.target.to_string(),
            }),
            data: Some(pb::ChannelData {
                state: state(channel_state),
                target: view.target.to_string(),
                calls_started: started,
                calls_succeeded: succeeded,
                calls_failed: failed,
                ..pb::ChannelData::default()
            }),
            subchannel_ref: refs,
            ..pb::Channel::default()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_follows_grpc_connectivity_semantics() {
        use State::*;
        assert_eq!(aggregate(&[TransientFailure, Ready, Idle]), Ready);
        assert_eq!(aggregate(&[TransientFailure, Connecting, Idle]), Connecting);
        assert_eq!(aggregate(&[TransientFailure, Idle]), Idle);
        assert_eq!(
            aggregate(&[TransientFailure, TransientFailure]),
            TransientFailure
        );
        assert_eq!(aggregate(&[]), Idle);
    }

    #[test]
    fn ids_are_positive_and_distinct_per_key() {
        let a = id_of(("socket", "127.0.0.1:1"));
        let b = id_of(("socket", "127.0.0.1:2"));
        assert!(a > 0 && b > 0 && a != b);
        assert_eq!(a, id_of(("socket", "127.0.0.1:1")));
    }

    #[test]
    fn tcp_addresses_carry_raw_ip_bytes_and_port() {
        let v4 = address("10.1.2.3:8080".parse().unwrap_or_else(|_| unreachable!()));
        let Some(pb::address::Address::TcpipAddress(t)) = v4.address else {
            panic!("not a TCP address");
        };
        assert_eq!((t.ip_address, t.port), (vec![10, 1, 2, 3], 8080));
    }
}
