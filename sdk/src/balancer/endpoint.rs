//! What the balancer knows about one endpoint: its identity and address, where it sits in the
//! EDS tree (priority, locality, weights, ring-hash key), its EDS health, the connectivity the
//! connection layer reports, and the `usable` override that outlier detection / active health
//! checks set.
//!
//! The handle a picker hands out ([`EndpointHandle`]) is cheap to clone and carries the live load
//! counters the channel updates on the request path. This module holds no policy and no I/O.
//! Health rules follow gRFC A27 (only HEALTHY and UNKNOWN take traffic) and A50 (an ejected
//! endpoint looks like TRANSIENT_FAILURE to the endpoint policy).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::xds::resource::endpoint::{HealthStatus, Locality};

use super::load::EndpointLoad;
use super::weight::BackendWeight;

/// Opaque, process-unique id of an endpoint; the channel maps it to a connection.
///
/// An address that stays in the assignment across EDS updates keeps its id (and its load
/// counters); an address that leaves and comes back gets a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(pub u64);

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ep#{}", self.0)
    }
}

/// Connection state of an endpoint as the connection layer reports it (gRPC connectivity states).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Connectivity {
    /// No connection and none being made; connects when a policy asks (the initial state).
    #[default]
    Idle,
    /// A connection attempt is in progress.
    Connecting,
    /// Connected; RPCs may be sent.
    Ready,
    /// The last attempt failed; the connection layer backs off and retries.
    TransientFailure,
}

/// Where an endpoint sits in the assignment and how it is weighed; the input to a balancer.
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointSpec {
    /// Primary address.
    pub address: SocketAddr,
    /// Health as the control plane reports it; only HEALTHY and UNKNOWN take traffic.
    pub health: HealthStatus,
    /// Endpoint weight within its locality (≥ 1).
    pub weight: u32,
    /// Locality.
    pub locality: Locality,
    /// Locality weight within its priority (≥ 1).
    pub locality_weight: u32,
    /// Priority, 0 highest.
    pub priority: u32,
    /// Ring-hash key replacing `address:port` on the ring (gRFC A76).
    pub hash_key: Option<String>,
}

/// A cheap, shareable handle on an endpoint: what a pick returns.
///
/// Clones share the same [`EndpointLoad`]; the channel increments and decrements the in-flight
/// count and records latencies through it, and pickers read it without locks.
#[derive(Clone)]
pub struct EndpointHandle(Arc<Shared>);

/// Hot fields first: the load counters share a cache line with the reference count.
#[repr(C)]
struct Shared {
    load: EndpointLoad,
    weight: BackendWeight,
    id: EndpointId,
    address: SocketAddr,
}

impl EndpointHandle {
    /// A new handle with fresh (empty) load counters.
    pub fn new(id: EndpointId, address: SocketAddr) -> Self {
        EndpointHandle(Arc::new(Shared {
            id,
            address,
            load: EndpointLoad::default(),
            weight: BackendWeight::default(),
        }))
    }

    /// The endpoint's id.
    pub fn id(&self) -> EndpointId {
        self.0.id
    }

    /// The endpoint's primary address.
    pub fn address(&self) -> SocketAddr {
        self.0.address
    }

    /// The live load counters shared with every picker.
    pub fn load(&self) -> &EndpointLoad {
        &self.0.load
    }

    /// The backend-reported weight (gRFC A58); the channel records load reports into it.
    pub fn backend_weight(&self) -> &BackendWeight {
        &self.0.weight
    }

    /// Whether two handles name the same endpoint instance.
    pub fn same(&self, other: &EndpointHandle) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for EndpointHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointHandle")
            .field("id", &self.0.id)
            .field("address", &self.0.address)
            .finish_non_exhaustive()
    }
}

impl PartialEq for EndpointHandle {
    fn eq(&self, other: &Self) -> bool {
        self.same(other)
    }
}

/// One endpoint as an endpoint policy sees it when it builds a picker.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    /// The handle a pick returns.
    pub handle: EndpointHandle,
    /// Effective connectivity: TRANSIENT_FAILURE while the `usable` override is off (gRFC A50).
    pub state: Connectivity,
    /// Effective weight: endpoint weight, times locality weight when no locality layer exists.
    pub weight: u64,
    /// The key hashed onto the ring: `hash_key` or `ip:port`.
    pub ring_key: Arc<str>,
}

/// Aggregate state of a group of endpoints, as round_robin reports it: any READY → READY, else
/// any CONNECTING → CONNECTING, else any IDLE → IDLE, else (also when empty) TRANSIENT_FAILURE.
pub(crate) fn aggregate(states: impl IntoIterator<Item = Connectivity>) -> Connectivity {
    let (mut connecting, mut idle) = (false, false);
    for s in states {
        match s {
            Connectivity::Ready => return Connectivity::Ready,
            Connectivity::Connecting => connecting = true,
            Connectivity::Idle => idle = true,
            Connectivity::TransientFailure => {}
        }
    }
    if connecting {
        Connectivity::Connecting
    } else if idle {
        Connectivity::Idle
    } else {
        Connectivity::TransientFailure
    }
}
