//! One accepted connection of an xDS-enabled server: pick the filter chain (gRFC A36), do the
//! TLS handshake the chain asks for (A29; mTLS when it requires client certificates) or none,
//! then serve HTTP/2 until the peer leaves, the server stops, or the server's Listener changes
//! (then the connection is drained with a GOAWAY, so the client reconnects under the new
//! config).

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tonic::service::Routes;
use tonic::transport::server::TcpConnectInfo;
use tower::ServiceExt;

use super::state::Config;
use crate::tls::{CertificateProviders, ServerTls};
use crate::xds::resource::listener::server::ConnectionInfo;

/// Serves one connection; every failure is logged and ends only this connection.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    routes: Routes,
    mut config: watch::Receiver<Config>,
    providers: CertificateProviders,
) {
    let Some(listener) = config.borrow_and_update().clone() else {
        tracing::debug!(%peer, "xDS server not serving; closing the connection");
        return;
    };
    let local = match stream.local_addr() {
        Ok(local) => local,
        Err(error) => {
            tracing::debug!(%peer, %error, "connection closed before it could be served");
            return;
        }
    };
    let Some(chain) = listener.select(ConnectionInfo { local, peer }).cloned() else {
        tracing::warn!(%peer, listener = %listener.name, "no filter chain matches the connection and the Listener has no default_filter_chain; closing it");
        return;
    };
    let routes = routes.map_request(move |mut req: http::Request<_>| {
        req.extensions_mut().insert(TcpConnectInfo {
            local_addr: Some(local),
            remote_addr: Some(peer),
        });
        req
    });
    let changed = async move {
        let current = listener;
        let _ = config
            .wait_for(|c| !c.as_ref().is_some_and(|c| Arc::ptr_eq(c, &current)))
            .await;
    };
    match &chain.tls {
        None => http2(stream, routes, changed).await,
        Some(settings) => {
            let acceptor = match ServerTls::new(settings.clone(), providers).acceptor().await {
                Ok(acceptor) => acceptor,
                Err(error) => {
                    tracing::warn!(%peer, %error, "cannot make the server's TLS configuration; closing the connection");
                    return;
                }
            };
            match acceptor.accept(stream).await {
                Ok(tls) => http2(tls, routes, changed).await,
                Err(error) => {
                    tracing::info!(%peer, %error, "TLS handshake with the client failed");
                }
            }
        }
    }
}

/// HTTP/2 over `io` until it ends; `drain` resolving starts a graceful shutdown.
async fn http2<I, S>(io: I, service: S, drain: impl Future<Output = ()>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: tower_service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder.max_concurrent_streams(None);
    let connection = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    tokio::pin!(connection);
    tokio::pin!(drain);
    let result = tokio::select! {
        result = &mut connection => result,
        () = &mut drain => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended");
    }
}
