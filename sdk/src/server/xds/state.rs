//! What an xDS-enabled server does with each event of its Listener watch (gRFC A36 "Serving and
//! Not Serving", A88 watcher semantics). Pure: the serve loop feeds events in and publishes the
//! result.
//!
//! - a valid server Listener whose address is the server's own → SERVING with it;
//! - a Listener for another address, or a client (API) Listener → NOT_SERVING: it is of no use;
//! - the resource does not exist, or failed with nothing cached → NOT_SERVING;
//! - an ambient error (NACK of an update, control plane unreachable) → keep the config in use.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::xds::WatchEvent;
use crate::xds::resource::{Resource, ServerListener};

/// Whether an xDS-enabled server accepts connections, and why not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServingMode {
    /// New connections are accepted and closed at once, before any byte is sent.
    NotServing {
        /// Why (for logs and the application).
        reason: String,
    },
    /// New connections are served with the current Listener.
    Serving,
}

/// The server's current Listener, if it is serving.
pub(crate) type Config = Option<Arc<ServerListener>>;

/// The new config and mode after `event`; `None` = keep both (log only).
pub(crate) fn apply(
    event: &WatchEvent,
    local: SocketAddr,
    name: &str,
) -> Option<(Config, ServingMode)> {
    let not_serving = |reason: String| {
        Some((
            None,
            ServingMode::NotServing {
                reason: format!("Listener `{name}`: {reason}"),
            },
        ))
    };
    match event {
        WatchEvent::Changed(Resource::ServerListener(l)) if l.address == local => {
            Some((Some(l.clone()), ServingMode::Serving))
        }
        WatchEvent::Changed(Resource::ServerListener(l)) => not_serving(format!(
            "its address {} is not this server's listening address {local}; the control plane must send a Listener for {local}",
            l.address
        )),
        WatchEvent::Changed(_) => not_serving(
            "is a client (API) listener, not a server listener with an address and filter chains"
                .to_string(),
        ),
        WatchEvent::DoesNotExist(e) | WatchEvent::Error(e) => not_serving(e.to_string()),
        WatchEvent::AmbientError(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xds::WatchError;

    fn listener(addr: &str) -> Resource {
        Resource::ServerListener(Arc::new(ServerListener {
            name: "l".into(),
            address: addr.parse().unwrap(),
            filter_chains: vec![],
            default_filter_chain: None,
        }))
    }

    #[test]
    fn serving_follows_the_listener() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let (config, mode) =
            apply(&WatchEvent::Changed(listener("127.0.0.1:8080")), local, "l").unwrap();
        assert!(config.is_some());
        assert_eq!(mode, ServingMode::Serving);

        let (config, mode) =
            apply(&WatchEvent::Changed(listener("0.0.0.0:9")), local, "l").unwrap();
        assert!(config.is_none());
        assert!(matches!(mode, ServingMode::NotServing { reason } if reason.contains("0.0.0.0:9")));

        let gone = WatchEvent::DoesNotExist(WatchError::NotFound {
            kind: crate::xds::resource::ResourceKind::Listener,
            name: "l".into(),
            server: "cp".into(),
            after: std::time::Duration::from_secs(15),
        });
        assert!(matches!(
            apply(&gone, local, "l"),
            Some((None, ServingMode::NotServing { .. }))
        ));
    }
}
