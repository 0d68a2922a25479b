//! [`EndpointConnection`]: the shared handle on one endpoint's connection — its connectivity
//! (published through a `watch` so every balancer owner holding the address sees each change),
//! the HTTP/2 sender the request path uses while READY (behind an `ArcSwapOption`, so sending
//! takes no lock), and the two requests a user of the handle can make: "connect" and "this
//! connection is broken". It also keeps why the last connection attempt failed, for error
//! messages, and the TLS settings (gRFC A29) its connections use, if any.
//!
//! The background task lives in `task`; dropping the last handle aborts it. This module does not
//! dial or retry.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwapOption;
use tokio::runtime::Handle;
use tokio::sync::{Notify, watch};
use tokio::task::AbortHandle;

use super::ConnectOptions;
use super::task;
use crate::balancer::Connectivity;
use crate::telemetry::SubchannelMetrics;
use crate::tls::ClientTls;

/// The HTTP/2 request sender of a READY connection.
pub(crate) type Sender = hyper::client::conn::http2::SendRequest<tonic::body::Body>;

/// State shared between the handles and the connection task.
pub(super) struct Shared {
    pub(super) address: SocketAddr,
    /// The pool's id of this connection (unique per pool).
    pub(super) id: u64,
    /// TLS settings; `None` = plaintext.
    pub(super) tls: Option<ClientTls>,
    /// Why the last connection attempt failed; cleared when one succeeds.
    pub(super) last_error: Mutex<Option<Arc<str>>>,
    pub(super) state: watch::Sender<Connectivity>,
    pub(super) sender: ArcSwapOption<Sender>,
    /// Wakes the task: a connect request or a broken-connection report.
    pub(super) wake: Notify,
    pub(super) want_connect: AtomicBool,
    pub(super) broken: AtomicBool,
    /// gRFC A94 subchannel metrics, labelled for the first holder (see `connection`).
    pub(super) metrics: SubchannelMetrics,
}

impl Shared {
    pub(super) fn set_state(&self, state: Connectivity) {
        self.state
            .send_if_modified(|s| std::mem::replace(s, state) != state);
    }

    pub(super) fn set_last_error(&self, error: Option<String>) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = error.map(Arc::from);
    }
}

/// Owns the task: dropped with the last handle, which stops the task.
pub(crate) struct Owner {
    shared: Arc<Shared>,
    task: AbortHandle,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A handle on the connection to one endpoint address; clones share it.
#[derive(Clone)]
pub(crate) struct EndpointConnection {
    owner: Arc<Owner>,
}

impl EndpointConnection {
    /// A new IDLE connection whose task runs on `runtime`.
    pub(super) fn spawn(
        address: SocketAddr,
        id: u64,
        tls: Option<ClientTls>,
        options: &ConnectOptions,
        rng: fastrand::Rng,
        runtime: &Handle,
        metrics: SubchannelMetrics,
    ) -> Self {
        let (state, _) = watch::channel(Connectivity::Idle);
        let shared = Arc::new(Shared {
            address,
            id,
            tls,
            last_error: Mutex::new(None),
            state,
            sender: ArcSwapOption::empty(),
            wake: Notify::new(),
            want_connect: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            metrics,
        });
        let task = runtime
            .spawn(task::run(shared.clone(), options.clone(), rng))
            .abort_handle();
        EndpointConnection {
            owner: Arc::new(Owner { shared, task }),
        }
    }

    pub(super) fn from_owner(owner: Arc<Owner>) -> Self {
        EndpointConnection { owner }
    }

    pub(super) fn owner(&self) -> &Arc<Owner> {
        &self.owner
    }

    /// The endpoint's address.
    pub(crate) fn address(&self) -> SocketAddr {
        self.owner.shared.address
    }

    /// The pool's id of this connection: two connections to one address (plaintext and TLS, or
    /// TLS with different settings) have different ids.
    pub(crate) fn id(&self) -> u64 {
        self.owner.shared.id
    }

    /// Whether this connection uses TLS.
    pub(crate) fn is_tls(&self) -> bool {
        self.owner.shared.tls.is_some()
    }

    pub(super) fn tls(&self) -> Option<&ClientTls> {
        self.owner.shared.tls.as_ref()
    }

    /// Why the last connection attempt failed (`None` once one succeeded, or before any).
    pub(crate) fn last_error(&self) -> Option<Arc<str>> {
        self.owner
            .shared
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Asks for a connection if there is none (IDLE); a no-op otherwise.
    pub(crate) fn connect(&self) {
        let shared = &self.owner.shared;
        if *shared.state.borrow() == Connectivity::Idle {
            shared.want_connect.store(true, Ordering::Release);
            shared.wake.notify_one();
        }
    }

    /// The current connectivity.
    pub(crate) fn state(&self) -> Connectivity {
        *self.owner.shared.state.borrow()
    }

    /// A receiver that sees every connectivity change (the current state first).
    pub(crate) fn subscribe(&self) -> watch::Receiver<Connectivity> {
        self.owner.shared.state.subscribe()
    }

    /// A sender for one request, while the connection is READY and open.
    pub(crate) fn sender(&self) -> Option<Sender> {
        let sender = self.owner.shared.sender.load_full()?;
        (!sender.is_closed()).then(|| Sender::clone(&sender))
    }

    /// Reports that a request found the connection dead (closed by the peer, GOAWAY, I/O
    /// error): the task drops it and the endpoint leaves READY until it reconnects.
    pub(crate) fn report_broken(&self) {
        let shared = &self.owner.shared;
        shared.broken.store(true, Ordering::Release);
        shared.wake.notify_one();
    }
}

impl fmt::Debug for EndpointConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointConnection")
            .field("address", &self.address())
            .field("tls", &self.is_tls())
            .field("state", &self.state())
            .finish()
    }
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Owner")
            .field("address", &self.shared.address)
            .finish_non_exhaustive()
    }
}
