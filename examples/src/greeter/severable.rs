//! [`Severable`]: a server-side connection that can be cut from outside, so a stopped backend
//! drops its clients at once instead of draining them.
//!
//! tonic's graceful shutdown stops accepting and sends GOAWAY, then waits for every open call to
//! finish; a hanging call would keep the connection (and the test) alive forever. Wrapping each
//! accepted socket lets [`serve`](super::serve) fail its reads and writes on demand: hyper then
//! ends the connection, the socket closes and the client's calls fail UNAVAILABLE promptly, the
//! way they would when a process dies. Nothing else about the socket changes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tonic::transport::server::Connected;

/// A connection that fails all I/O once its cut signal fires (or its sender is dropped).
pub struct Severable<IO> {
    io: IO,
    cut: Pin<Box<dyn Future<Output = ()> + Send>>,
    is_cut: bool,
}

impl<IO> Severable<IO> {
    /// Wraps `io`; it is cut when `cut` becomes `true` or its sender goes away.
    pub fn new(io: IO, mut cut: watch::Receiver<bool>) -> Self {
        Severable {
            io,
            cut: Box::pin(async move {
                let _ = cut.wait_for(|cut| *cut).await;
            }),
            is_cut: false,
        }
    }

    /// Fails with `ConnectionAborted` once cut; otherwise registers for the cut.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if !self.is_cut && self.cut.as_mut().poll(cx).is_ready() {
            self.is_cut = true;
        }
        if self.is_cut {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the greeter backend was stopped",
            ));
        }
        Ok(())
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Severable<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Severable<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl<IO: Connected> Connected for Severable<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}
